import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { generateEd25519 } from '../src/ed25519.js'
import { openEnvelope } from '../src/peer/envelope.js'
import { PEER_PAGE, peerRoutes } from '../src/peer/routes.js'
import { SqliteStore } from '../src/store/sqlite.js'
import type { SettlementSignature } from '../src/chains.js'
import { QantaraError } from '../src/errors.js'
import { RetargetApprovals } from '../src/peer/retargetApprovals.js'
import type { ReleaseLeg } from '../src/vault/releaseLeg.js'

/** relayer-1's peer routes over a fresh in-memory store, on a loopback port. */
async function servePeerRoutes(
  cosign?: (orderId: string, message: string, leg: ReleaseLeg) => Promise<SettlementSignature>,
  retargets?: RetargetApprovals,
) {
  const identity = generateEd25519().signer
  const store = new SqliteStore(':memory:')
  const handle = peerRoutes({
    relayerId: 'relayer-1',
    identity,
    store,
    ...(cosign ? { cosign } : {}),
    ...(retargets ? { retargets } : {}),
  })
  const server = createServer((req, res) => void handle(req, res, new URL(req.url ?? '/', 'http://x')))
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()))
  return { identity, store, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

describe('peer routes', () => {
  it("co-sign a release message through the chain's check, sealed; refuse malformed messages and report a refusal", async () => {
    const seen: string[] = []
    const legs: ReleaseLeg[] = []
    const { identity, store, server, url } = await servePeerRoutes((orderId, message, leg) => {
      seen.push(message)
      legs.push(leg)
      if (message !== Buffer.from('the release').toString('base64'))
        return Promise.reject(
          new QantaraError('COSIGN_REFUSED', 'no', {
            context: { reason: "it is not the release of this relayer's settlement" },
          }),
        )
      return Promise.resolve({ signer: 'So1ana', signature: `0x${'ab'.repeat(64)}` })
    })
    const order = `0x${'d6'.repeat(32)}`
    try {
      const ok = await fetch(
        `${url}/v1/peer/cosign/${order}?message=${Buffer.from('the release').toString('base64url')}`,
      )
      expect(
        openEnvelope(
          'cosignature',
          await ok.json(),
          'relayer-1',
          new Map([['relayer-1', identity.publicKey]]),
          60_000,
        ),
      ).toEqual({ orderId: order, signer: 'So1ana', signature: `0x${'ab'.repeat(64)}` })
      const refused = await fetch(
        `${url}/v1/peer/cosign/${order}?message=${Buffer.from('another').toString('base64url')}`,
      )
      expect([refused.status, await refused.json()]).toEqual([
        409,
        { error: 'COSIGN_REFUSED', reason: "it is not the release of this relayer's settlement" },
      ])
      expect((await fetch(`${url}/v1/peer/cosign/${order}?message=${'A'.repeat(2_000)}`)).status).toBe(400)
      expect((await fetch(`${url}/v1/peer/cosign/${order}?message=not%20base64`)).status).toBe(400)
      // The leg of a BTC-owed share rides beside the message, read strictly: a payout's txid and block, or the fallback.
      const release = Buffer.from('the release').toString('base64url')
      const [txid, block] = ['ab'.repeat(32), 'cd'.repeat(32)]
      expect(
        (await fetch(`${url}/v1/peer/cosign/${order}?message=${release}&leg=btc-solver:${txid}:${block}`))
          .status,
      ).toBe(200)
      expect((await fetch(`${url}/v1/peer/cosign/${order}?message=${release}&leg=btc-fallback`)).status).toBe(
        200,
      )
      for (const bad of [
        'btc-solver:zz',
        `btc-solver:${txid}`,
        `btc-solver:${txid}:${block}:x`,
        'everything',
      ])
        expect((await fetch(`${url}/v1/peer/cosign/${order}?message=${release}&leg=${bad}`)).status).toBe(400)
      expect(legs).toEqual([
        { kind: 'settlement' },
        { kind: 'settlement' },
        { kind: 'btc-solver', btcTxid: txid, btcBlock: block },
        { kind: 'btc-fallback' },
      ])
      expect(seen).toHaveLength(4)
    } finally {
      server.close()
      await store.close()
    }
  })

  it("serve this relayer's own light relay retarget approval, sealed, once it approved, and refuse malformed queries", async () => {
    const approvals = new RetargetApprovals()
    const { identity, store, server, url } = await servePeerRoutes(undefined, approvals)
    const at = (query: string) => fetch(`${url}/v1/peer/retarget?${query}`)
    const mine = {
      relayerId: 'relayer-1',
      headersHash: `0x${'ab'.repeat(32)}`,
      signer: '0x00000000000000000000000000000000000000a1',
      signature: `0x${'01'.repeat(65)}`,
    }
    try {
      expect((await at('chain=eip155%3A1&epoch=367')).status).toBe(404)
      // A peer's approval held here is not served as this relayer's.
      approvals.put('eip155:1', 367n, { ...mine, relayerId: 'relayer-2' })
      expect((await at('chain=eip155%3A1&epoch=367')).status).toBe(404)
      approvals.put('eip155:1', 367n, mine)
      const body = openEnvelope(
        'retarget',
        await (await at('chain=eip155%3A1&epoch=367')).json(),
        'relayer-1',
        new Map([['relayer-1', identity.publicKey]]),
        60_000,
      )
      expect(body).toEqual({
        chain: 'eip155:1',
        epoch: '367',
        headersHash: mine.headersHash,
        signer: mine.signer,
        signature: mine.signature,
      })
      expect((await at('chain=eip155%3A1&epoch=368')).status).toBe(404)
      for (const query of [
        'chain=nope&epoch=367',
        'chain=eip155%3A1&epoch=-1',
        'chain=eip155%3A1&epoch=1e3',
        'chain=eip155%3A1',
      ])
        expect((await at(query)).status).toBe(400)
    } finally {
      server.close()
      await store.close()
    }
  })

  it('serve sealed pages, refuse malformed queries, and throttle a flood without falling over', async () => {
    const { identity, store, server, url } = await servePeerRoutes()
    const order = `0x${'d4'.repeat(32)}`
    try {
      const page = await (await fetch(`${url}/v1/peer/heartbeats?order=${order}&since=0`)).json()
      expect(
        openEnvelope('heartbeats', page, 'relayer-1', new Map([['relayer-1', identity.publicKey]]), 60_000),
      ).toEqual({ orderId: order, heartbeats: [], transcripts: [], cursor: 0, more: false })
      expect((await fetch(`${url}/v1/peer/heartbeats?order=nope`)).status).toBe(400)
      expect((await fetch(`${url}/v1/peer/heartbeats?order=${order}&since=-1`)).status).toBe(400)
      expect((await fetch(`${url}/v1/peer/signatures/${order}`)).status).toBe(404)

      const statuses = await Promise.all(
        Array.from({ length: 400 }, () =>
          fetch(`${url}/v1/peer/heartbeats?order=${order}&since=0`).then((r) => r.status),
        ),
      )
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(100)
      expect(statuses.every((s) => s === 200 || s === 429)).toBe(true)
      await new Promise((r) => setTimeout(r, 200))
      expect((await fetch(`${url}/v1/peer/heartbeats?order=${order}&since=0`)).status).toBe(200)
    } finally {
      server.close()
      await store.close()
    }
  })

  it('pages heartbeats by a cursor that holds however slots arrive', async () => {
    const { identity, store, server, url } = await servePeerRoutes()
    const order = `0x${'d5'.repeat(32)}`
    const keep = (slot: number, relayerId = 'relayer-1') =>
      store.putHeartbeats([
        {
          orderId: order,
          slot,
          relayerId,
          body: JSON.stringify({ slot, relayerId }),
          receivedAt: 0,
        },
      ])
    const page = async (since: number) =>
      openEnvelope(
        'heartbeats',
        await (await fetch(`${url}/v1/peer/heartbeats?order=${order}&since=${since}`)).json(),
        'relayer-1',
        new Map([['relayer-1', identity.publicKey]]),
        60_000,
      ) as { heartbeats: { slot: number }[]; cursor: number; more: boolean }
    try {
      for (let slot = 250; slot > 0; slot--) await keep(slot)
      const first = await page(0)
      expect([first.heartbeats.length, first.heartbeats[0]!.slot, first.more]).toEqual([PEER_PAGE, 250, true])
      const second = await page(first.cursor)
      expect([second.heartbeats.length, second.heartbeats.at(-1)!.slot, second.more]).toEqual([50, 1, false])
      // Kept later but for an earlier slot: an offset into a slot-sorted list would skip it.
      await keep(0, 'relayer-2')
      await keep(7, 'relayer-2')
      const third = await page(second.cursor)
      expect(third.heartbeats).toEqual([
        { slot: 0, relayerId: 'relayer-2' },
        { slot: 7, relayerId: 'relayer-2' },
      ])
      expect((await page(third.cursor)).heartbeats).toEqual([])
    } finally {
      server.close()
      await store.close()
    }
  })
})
