import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { getAddress, type Hex, type LocalAccount } from 'viem'
import { toEvmSettlement } from '../adapters/evm/codec.js'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { signSettlement } from '../adapters/evm/eip712.js'
import { canonicalJson } from '../src/canonicalJson.js'
import { generateEd25519 } from '../src/ed25519.js'
import { challengeBytes } from '../src/heartbeat/bytes.js'
import { merkleLeafHash } from '../src/merkle.js'
import { openEnvelope, sealEnvelope } from '../src/peer/envelope.js'
import type { Peer } from '../src/peer/gossip.js'
import type { Settlement } from '../src/settlement.js'
import type { SettlementWire } from '../src/settlementWire.js'
import {
  deployMarket,
  fund,
  openOrder,
  relayerKeys,
  startEvmTestbed,
  type Deployment,
  type EvmTestbed,
} from '../devkit/evmTestbed.js'
import {
  inProcessAgent,
  inProcessRelayer,
  listen,
  type InProcessRelayer,
} from './support/inProcessRelayer.js'
import { waitFor } from '../devkit/waitFor.js'

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const SLOT = 3
const SLOTS = 2

let bed: EvmTestbed
let d: Deployment
let accounts: LocalAccount[]
const closers: (() => Promise<void>)[] = []
beforeAll(async () => {
  bed = await startEvmTestbed()
  accounts = relayerKeys(3)
  d = await deployMarket(bed, accounts, 2)
  await fund(bed, d, 1, 10n ** 12n)
  for (const a of accounts) await bed.testClient.setBalance({ address: a.address, value: 10n ** 20n })
})
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined)
  await bed?.stop()
})

/** The same valid signature with s → n − s and v flipped: ecrecover, and viem, recover the same signer. */
function malleate(signature: Hex): Hex {
  const s = BigInt(`0x${signature.slice(66, 130)}`)
  const v = Number.parseInt(signature.slice(130), 16)
  return `${signature.slice(0, 66)}${(N - s).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}` as Hex
}

const fromWire = (w: SettlementWire): Settlement => ({
  ...w,
  toProvider: BigInt(w.toProvider),
  toRenter: BigInt(w.toRenter),
  fee: BigInt(w.fee),
})

describe('a byzantine relayer against two honest ones (threshold 2 of 3)', () => {
  it('equivocating heartbeats and a malleated signature: the honest relayers converge on one settlement and the escrow pays it, not disputed', async () => {
    // "relayer-0" sorts before the honest ids, so an unchecked signature of its would be among the first two sent.
    const ids = ['relayer-0', 'relayer-a', 'relayer-b']
    const identities = ids.map(() => generateEd25519().signer)
    const relayerKeysById = new Map(ids.map((id, i) => [id, identities[i]!.publicKey]))
    const evmMembers = new Map(ids.map((id, i) => [id, accounts[i]!.address]))
    const provider = generateEd25519().signer
    // Two agents with the same provider key: one restarted, its memory of what it answered gone. Each answers the
    // byzantine relayer's challenge for a slot with a valid heartbeat of its own.
    const offer = {
      payout: { 'eip155:31337': bed.account(8).address },
      prices: [
        {
          chain: 'eip155:31337',
          token: d.token,
          gpuClass: 'cpu-reference',
          perSlot: '1000000',
          slotLength: SLOT,
        },
      ],
    }
    const agents = [await inProcessAgent(provider, offer), await inProcessAgent(provider, offer)]
    for (const a of agents) closers.push(a.close)

    // The byzantine relayer M: serves one heartbeat set to relayer-a, the other to relayer-b, and a high-s copy of a genuine signature.
    const M = { id: ids[0]!, identity: identities[0]!, account: accounts[0]! }
    const bodies: [unknown[], unknown[]] = [[], []]
    const honest: InProcessRelayer[] = []
    const served = { malleated: 0 }
    const hostile = createServer((req: IncomingMessage, res: ServerResponse) => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://m')
        const [, side, , , kind, orderId] = url.pathname.split('/')
        const seal = (k: 'heartbeats' | 'signature', body: unknown) =>
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(canonicalJson(sealEnvelope(k, M.id, M.identity, body)))
        if (kind === 'heartbeats') {
          const since = Number(url.searchParams.get('since') ?? 0)
          const served = bodies[side === 'to-a' ? 0 : 1]
          return seal('heartbeats', {
            orderId: url.searchParams.get('order'),
            heartbeats: served.slice(since),
            cursor: served.length,
            more: false,
          })
        }
        if (kind === 'signatures' && orderId) {
          // Sign whatever the asking relayer settles, then malleate it: it still recovers to M.
          const asker = honest[side === 'to-a' ? 0 : 1]!
          const theirs = await fetch(`${asker.url}/v1/peer/signatures/${orderId}`).then((r) => r.json())
          const body = openEnvelope('signature', theirs, asker.id, relayerKeysById, 60_000) as {
            settlement: SettlementWire
            settlementHash: string
          }
          const genuine = await signSettlement(
            M.account,
            d.domain,
            toEvmSettlement(fromWire(body.settlement)),
          )
          served.malleated++
          return seal('signature', {
            orderId,
            settlement: body.settlement,
            settlementHash: body.settlementHash,
            signer: getAddress(M.account.address),
            signature: malleate(genuine),
          })
        }
        res.writeHead(404).end()
      })().catch(() => res.writeHead(500).end())
    })
    const mUrl = await listen(hostile)
    closers.push(
      () =>
        new Promise((ok) => {
          hostile.closeAllConnections()
          hostile.close(() => ok())
        }),
    )

    // Each honest relayer's peers: the other honest one, and M at a path that tells M who is asking.
    const peers: Peer[][] = [[], []]
    for (const [i, id] of ids.entries()) {
      if (i === 0) continue
      const r = await inProcessRelayer({
        id,
        identity: identities[i]!,
        account: accounts[i]!,
        relayerKeys: relayerKeysById,
        members: ids,
        evmMembers,
        threshold: 2,
        rpcUrl: bed.anvil.rpcUrl,
        escrow: d.escrow,
        peers: peers[i - 1]!,
      })
      honest.push(r)
      closers.push(r.close)
    }
    peers[0]!.push({ id: 'relayer-b', url: honest[1]!.url }, { id: M.id, url: `${mUrl}/to-a` })
    peers[1]!.push({ id: 'relayer-a', url: honest[0]!.url }, { id: M.id, url: `${mUrl}/to-b` })
    for (const r of honest) await r.registry.submit(agents[0]!.agent.record)

    const now = (await bed.publicClient.getBlock()).timestamp
    const start =
      BigInt(Math.ceil(Date.now() / 1000)) + 2n > now + 2n
        ? BigInt(Math.ceil(Date.now() / 1000)) + 2n
        : now + 2n
    const { orderId, order } = await openOrder(bed, d, 1, {
      amount: 6_000_000n,
      providerId: provider.publicKey,
      start,
      slotLength: SLOT,
      slots: SLOTS,
    })
    const stop = new AbortController()
    const running = honest.map((r) => r.run(stop.signal))

    // M's own challenges, one per slot, each answered by both agents: two valid heartbeats per slot for M.
    for (let slot = 0; slot < SLOTS; slot++) {
      await waitFor(
        () => Promise.resolve(Date.now() >= (Number(start) + slot * SLOT) * 1000 + 300 ? true : undefined),
        `slot ${slot}`,
        20_000,
        50,
      )
      const challenge = {
        v: 1 as const,
        orderId,
        slot,
        relayerId: M.id,
        relayerKey: M.identity.publicKey,
        salt: `0x${slot.toString(16).padStart(64, 'e')}`,
        issuedAt: Date.now(),
      }
      const signed = { challenge, signature: M.identity.sign(challengeBytes(challenge)) }
      for (const [k, a] of agents.entries()) {
        const res = await fetch(`${a.url}/v1/heartbeat`, { method: 'POST', body: canonicalJson(signed) })
        bodies[k]!.push(await res.json())
      }
      // The same agent asked twice gives the same bytes: it answers one challenge per relayer, order and slot.
      const again = {
        challenge: { ...challenge, salt: `0x${slot.toString(16).padStart(64, 'f')}` },
        signature: '',
      }
      again.signature = M.identity.sign(challengeBytes(again.challenge))
      expect(
        await (
          await fetch(`${agents[0]!.url}/v1/heartbeat`, { method: 'POST', body: canonicalJson(again) })
        ).json(),
      ).toEqual(bodies[0][slot])
    }
    expect(canonicalJson(bodies[0])).not.toBe(canonicalJson(bodies[1]))

    const settled = await waitFor(
      async () => {
        const logs = await bed.publicClient.getContractEvents({
          address: d.escrow,
          abi: qantaraEscrowAbi,
          eventName: 'OrderSettled',
          fromBlock: 0n,
          strict: true,
        })
        return logs.find((l) => l.args.orderId === orderId)
      },
      'the order to settle on chain',
      60_000,
      250,
    )
    await waitFor(
      async () =>
        (await Promise.all(honest.map((r) => r.store.getOrder(orderId)))).every((r) => r?.state === 'settled')
          ? true
          : undefined,
      'both honest relayers to see it settled',
      20_000,
      100,
    )
    stop.abort()
    await Promise.all(running)

    // Both honest relayers hold the lower-hash heartbeat of each of M's slots, and signed the same settlement.
    const kept = await Promise.all(
      honest.map(async (r) =>
        (await r.store.listHeartbeats(orderId))
          .filter((h) => h.relayerId === M.id)
          .map((h) => merkleLeafHash(h.body)),
      ),
    )
    const lowest = bodies[0].map(
      (b, slot) =>
        [merkleLeafHash(canonicalJson(b)), merkleLeafHash(canonicalJson(bodies[1][slot]))].sort()[0],
    )
    expect(kept[0]).toEqual(lowest)
    expect(kept[1]).toEqual(lowest)
    const records = await Promise.all(honest.map((r) => r.store.getOrder(orderId)))
    expect(records.map((r) => r?.state)).toEqual(['settled', 'settled'])
    const split = (x: Settlement | undefined) =>
      x && {
        toProvider: x.toProvider,
        toRenter: x.toRenter,
        fee: x.fee,
        upSlots: x.upSlots,
        heartbeatRoot: x.heartbeatRoot,
      }
    expect(split(records[0]!.settlement)).toEqual(split(records[1]!.settlement))
    expect(settled.args.upSlots).toBe(SLOTS)
    expect(settled.args.toProvider).toBe(order.amount)
    expect(settled.args.heartbeatRoot).toBe(records[0]!.settlement!.heartbeatRoot)
    // M's malleated signature was offered and never counted.
    expect(served.malleated).toBeGreaterThan(0)
    for (const r of honest) {
      expect((await r.store.listSignatures(orderId)).some((s) => s.relayerId === M.id)).toBe(false)
      expect(await r.metrics.registry.getSingleMetricAsString('qantara_peer_rejections_total')).toMatch(
        /peer="relayer-0",reason="BAD_SETTLEMENT_SIGNATURE"\} [1-9]/,
      )
    }
  }, 90_000)
})
