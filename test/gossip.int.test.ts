import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { canonicalJson } from '../src/canonicalJson.js'
import { generateEd25519 } from '../src/ed25519.js'
import { challengeBytes, heartbeatBytes } from '../src/heartbeat/bytes.js'
import type { Heartbeat } from '../src/heartbeat/schema.js'
import { createSafeHttp } from '../src/http/safeHttp.js'
import { silentLogger } from '../src/log.js'
import { createMetrics } from '../src/metrics.js'
import type { OrderTerms } from '../src/order.js'
import { sealEnvelope } from '../src/peer/envelope.js'
import { Gossip } from '../src/peer/gossip.js'
import { merkleLeafHash } from '../src/merkle.js'
import type { Settlement } from '../src/settlement.js'
import { settlementHash, settlementToWire } from '../src/settlementWire.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { startHostileAgent, type Behaviour } from './support/hostileAgent.js'

const provider = generateEd25519().signer
const peerKey = generateEd25519().signer
const witness = generateEd25519().signer
const relayerKeys = new Map([
  ['relayer-2', peerKey.publicKey],
  ['relayer-3', witness.publicKey],
])
let peer: Awaited<ReturnType<typeof startHostileAgent>>
let store: SqliteStore
let metrics: ReturnType<typeof createMetrics>

const start = BigInt(Math.floor(Date.now() / 1000) - 100)
const order: OrderTerms = {
  id: `0x${'c3'.repeat(32)}`,
  chain: 'eip155:31337',
  renter: '0xr',
  token: 'native',
  amount: 1000n,
  providerId: provider.publicKey,
  payout: '0xp',
  start,
  slotLength: 60,
  slots: 5,
  gpu: REFERENCE_ORDER_GPU,
}

/** A heartbeat for `slot` answering relayer-3's challenge, as a peer would relay it. */
function witnessed(slot: number, signer = provider): unknown {
  const challenge = {
    v: 1 as const,
    orderId: order.id,
    slot,
    relayerId: 'relayer-3',
    relayerKey: witness.publicKey,
    salt: `0x${slot.toString(16).padStart(64, '0')}`,
    issuedAt: (Number(start) + slot * 60 + 5) * 1000,
  }
  const heartbeat: Heartbeat = {
    v: 1,
    challenge: { challenge, signature: witness.sign(challengeBytes(challenge)) },
    timestamp: challenge.issuedAt + 200,
    gpus: null,
    gpuUnavailable: 'none',
  }
  return JSON.parse(
    canonicalJson({ heartbeat, signature: signer.sign(heartbeatBytes(heartbeat)) }),
  ) as unknown
}

const serve =
  (body: unknown, key = peerKey): Behaviour =>
  (_q, res) =>
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(canonicalJson(sealEnvelope('heartbeats', 'relayer-2', key, body)))

function gossip(timeoutMs = 1_000, peers = [{ id: 'relayer-2', url: peer.url }]) {
  const httpOptions = { timeoutMs, maxBytes: 256 * 1024, allowPrivate: true }
  return new Gossip({
    selfId: 'relayer-1',
    peers,
    relayerKeys,
    store,
    http: createSafeHttp(httpOptions),
    httpOptions,
    skewMs: 30_000,
    metrics,
    logger: silentLogger(),
  })
}

async function rejections(reason: string): Promise<number> {
  const line = (await metrics.registry.getSingleMetricAsString('qantara_peer_rejections_total'))
    .split('\n')
    .find((l) => l.includes(`reason="${reason}"`))
  return line ? Number(line.split(' ').at(-1)) : 0
}

beforeAll(async () => {
  peer = await startHostileAgent()
})
afterAll(() => peer?.close())
beforeEach(() => {
  store = new SqliteStore(':memory:')
  metrics = createMetrics()
})

describe('Gossip', () => {
  it('keeps a relayed heartbeat under the relayer that witnessed it, after checking it again', async () => {
    peer.set(serve({ orderId: order.id, heartbeats: [witnessed(1), witnessed(2)], cursor: 2, more: false }))
    expect(await gossip().pullHeartbeats(order)).toBe(2)
    expect((await store.listHeartbeats(order.id)).map((h) => [h.slot, h.relayerId])).toEqual([
      [1, 'relayer-3'],
      [2, 'relayer-3'],
    ])
  })

  it('asks each peer only for what it kept since the last pull', async () => {
    const asked: string[] = []
    let kept = [witnessed(1), witnessed(2)]
    peer.set((q, res) => {
      const since = new URL(q.url ?? '/', 'http://x').searchParams.get('since') ?? ''
      asked.push(since)
      const page = since === '0' ? kept : kept.slice(2)
      serve({ orderId: order.id, heartbeats: page, cursor: since === '0' ? 2 : kept.length, more: false })(
        q,
        res,
        '',
      )
    })
    const g = gossip()
    expect(await g.pullHeartbeats(order)).toBe(2)
    kept = [...kept, witnessed(4)]
    expect(await g.pullHeartbeats(order)).toBe(1)
    expect(await g.pullHeartbeats(order)).toBe(0)
    expect(asked).toEqual(['0', '2', '3'])
    expect((await store.listHeartbeats(order.id)).map((h) => h.slot)).toEqual([1, 2, 4])
  })

  it("pulls every order's heartbeats from one feed with one stored cursor, passing over orders it does not hold", async () => {
    await store.insertOrder(order, 1)
    const unknown = { ...(witnessed(3) as { heartbeat: { challenge: { challenge: object } } }) }
    const other = JSON.parse(
      JSON.stringify(unknown).replaceAll(order.id.slice(2), 'ab'.repeat(32)),
    ) as unknown
    const asked: string[] = []
    let kept = [witnessed(1), other, witnessed(2)]
    peer.set((q, res) => {
      const url = new URL(q.url ?? '/', 'http://x')
      asked.push(`${url.searchParams.get('order') ?? 'feed'}:${url.searchParams.get('since')}`)
      const since = Number(url.searchParams.get('since'))
      serve({ heartbeats: kept.slice(since), cursor: kept.length, more: false })(q, res, '')
    })
    const g = gossip()
    expect(await g.pullFeed()).toBe(2)
    kept = [...kept, witnessed(4)]
    expect(await g.pullFeed()).toBe(1)
    // A restarted relayer resumes from the cursor it stored.
    expect(await gossip().pullFeed()).toBe(0)
    expect(asked).toEqual(['feed:0', 'feed:3', 'feed:4'])
    expect(await store.getCursor('gossip-feed:relayer-2')).toBe(4)
    expect((await store.listHeartbeats(order.id)).map((h) => h.slot)).toEqual([1, 2, 4])
    expect(await store.listHeartbeats(`0x${'ab'.repeat(32)}`)).toEqual([])
  })

  it('refuses a feed page that names an order, or whose cursor does not move past what it serves', async () => {
    await store.insertOrder(order, 1)
    peer.set(serve({ orderId: order.id, heartbeats: [witnessed(1)], cursor: 1, more: false }))
    expect(await gossip().pullFeed()).toBe(0)
    peer.set(serve({ heartbeats: [witnessed(1), witnessed(2)], cursor: 1, more: false }))
    expect(await gossip().pullFeed()).toBe(0)
    expect(await rejections('BAD_ENVELOPE')).toBe(2)
    expect(await store.getCursor('gossip-feed:relayer-2')).toBe(0)
  })

  it('is not held up by a slow peer: the others are pulled, the slow one times out', async () => {
    const slow = await startHostileAgent()
    slow.set((q, res) =>
      setTimeout(
        () => serve({ orderId: order.id, heartbeats: [witnessed(3)], cursor: 1, more: false })(q, res, ''),
        3_000,
      ),
    )
    peer.set(serve({ orderId: order.id, heartbeats: [witnessed(1), witnessed(2)], cursor: 2, more: false }))
    try {
      expect(
        await gossip(500, [
          { id: 'relayer-2', url: peer.url },
          { id: 'relayer-3', url: slow.url },
        ]).pullHeartbeats(order),
      ).toBe(2)
      expect((await store.listHeartbeats(order.id)).map((h) => h.slot)).toEqual([1, 2])
    } finally {
      await slow.close()
    }
  })

  it('refuses forged heartbeats one by one and keeps the genuine ones of the same page', async () => {
    peer.set(
      serve({
        orderId: order.id,
        heartbeats: [witnessed(1, generateEd25519().signer), witnessed(3)],
        cursor: 2,
        more: false,
      }),
    )
    expect(await gossip().pullHeartbeats(order)).toBe(1)
    expect(await rejections('BAD_SIGNATURE')).toBe(1)
  })

  it('benches a peer that serves more junk than a minute tolerates: the 17th forged heartbeat ends the pull and the next pulls skip it', async () => {
    const forger = generateEd25519().signer
    let asked = 0
    peer.set((q, res) => {
      asked++
      serve({
        orderId: order.id,
        heartbeats: [...Array.from({ length: 19 }, () => witnessed(1, forger)), witnessed(2)],
        cursor: 20,
        more: false,
      })(q, res, '')
    })
    const g = gossip()
    expect(await g.pullHeartbeats(order)).toBe(0)
    expect(await rejections('BAD_SIGNATURE')).toBe(17)
    expect(await rejections('BENCHED')).toBe(1)
    expect(await g.pullHeartbeats(order)).toBe(0)
    expect(asked).toBe(1)
  })

  it('refuses a page that repeats itself: more heartbeats than the order can hold, or a cursor that does not move with them', async () => {
    const many = Array.from({ length: 21 }, () => witnessed(1))
    peer.set(serve({ orderId: order.id, heartbeats: many, cursor: 21, more: false }))
    expect(await gossip().pullHeartbeats(order)).toBe(0)
    expect(await rejections('TOO_MANY_HEARTBEATS')).toBe(1)
    peer.set(serve({ orderId: order.id, heartbeats: [witnessed(1), witnessed(2)], cursor: 1, more: true }))
    expect(await gossip().pullHeartbeats(order)).toBe(0)
    expect(await rejections('BAD_ENVELOPE')).toBe(1)
    expect(await store.listHeartbeats(order.id)).toEqual([])
  })

  it('keeps, of two valid heartbeats for one slot and witness, the one with the lower leaf hash, whichever came first', async () => {
    // Same challenge answered twice (a provider that re-signed it): two valid bodies for slot 1 of relayer-3.
    const a = witnessed(1)
    const b = JSON.parse(JSON.stringify(a)) as { heartbeat: Heartbeat; signature: string }
    b.heartbeat.timestamp += 1
    b.signature = provider.sign(heartbeatBytes(b.heartbeat))
    const [low, high] = [a, b].sort((x, y) =>
      merkleLeafHash(canonicalJson(x)) < merkleLeafHash(canonicalJson(y)) ? -1 : 1,
    )
    let page: unknown[] = [high]
    peer.set((q, res) => serve({ orderId: order.id, heartbeats: page, cursor: 1, more: false })(q, res, ''))
    expect(await gossip().pullHeartbeats(order)).toBe(1)
    page = [low]
    expect(await gossip().pullHeartbeats(order)).toBe(1)
    page = [high]
    expect(await gossip().pullHeartbeats(order)).toBe(0)
    expect((await store.listHeartbeats(order.id)).map((h) => h.body)).toEqual([canonicalJson(low)])
    // The replacement is listed after everything kept before it, so a peer's cursor past the old one still reaches it.
    expect((await store.listHeartbeatsAfter(order.id, 1, 10)).map((h) => h.body)).toEqual([
      canonicalJson(low),
    ])
  })

  const hostile: [string, Behaviour, string | undefined][] = [
    [
      'an envelope sealed with another key',
      serve(
        { orderId: order.id, heartbeats: [witnessed(1)], cursor: 2, more: false },
        generateEd25519().signer,
      ),
      'BAD_ENVELOPE',
    ],
    [
      'junk instead of an envelope',
      (_q, res) => res.writeHead(200).end('{"relayerId":"relayer-2","junk":'),
      undefined,
    ],
    [
      'an oversized response',
      (_q, res) => res.writeHead(200).end(Buffer.alloc(2 * 1024 * 1024, 0x20)),
      undefined,
    ],
    [
      'a peer that trickles bytes',
      (_q, res) => {
        res.writeHead(200)
        const t = setInterval(() => (res.writableEnded ? clearInterval(t) : res.write(' ')), 50)
        res.on('close', () => clearInterval(t))
      },
      undefined,
    ],
  ]
  for (const [what, behaviour, reason] of hostile) {
    it(`stores nothing from ${what}`, async () => {
      peer.set(behaviour)
      expect(await gossip(500).pullHeartbeats(order)).toBe(0)
      expect(await store.listHeartbeats(order.id)).toEqual([])
      if (reason) expect(await rejections(reason)).toBe(1)
    })
  }

  it('counts a peer signature over a different settlement as a disagreement and does not keep it', async () => {
    const ours: Settlement = {
      orderId: order.id,
      toProvider: 600n,
      toRenter: 400n,
      fee: 0n,
      feeRecipient: '',
      upSlots: 3,
      totalSlots: 5,
      heartbeatRoot: `0x${'00'.repeat(32)}`,
    }
    const theirs = { ...ours, toProvider: 1000n, toRenter: 0n, upSlots: 5 }
    peer.set((_q, res) =>
      res.writeHead(200).end(
        canonicalJson(
          sealEnvelope('signature', 'relayer-2', peerKey, {
            orderId: order.id,
            settlement: settlementToWire(theirs),
            settlementHash: settlementHash(theirs),
            signer: '0xabc',
            signature: '0xdef',
          }),
        ),
      ),
    )
    let verified = 0
    await gossip().pullSignatures(order, ours, () => Promise.resolve(++verified > 0))
    expect(verified).toBe(0)
    expect(await store.listSignatures(order.id)).toEqual([])
    expect(
      await metrics.registry.getSingleMetricAsString('qantara_settlement_disagreements_total'),
    ).toContain('qantara_settlement_disagreements_total{peer="relayer-2"} 1')
  })

  it("keeps a peer's retarget approval only for the same chain, epoch and headers, and only once the chain's check passes", async () => {
    const ours = `0x${'ab'.repeat(32)}`
    const approval = {
      chain: 'eip155:1',
      epoch: '367',
      headersHash: ours,
      signer: '0x00000000000000000000000000000000000000a2',
      signature: `0x${'02'.repeat(65)}`,
    }
    const serveApproval =
      (body: unknown): Behaviour =>
      (_q, res) =>
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(canonicalJson(sealEnvelope('retarget', 'relayer-2', peerKey, body)))
    const pull = (verdict: boolean) =>
      gossip().pullRetargetApprovals('eip155:1', 367n, ours, new Set(), () => Promise.resolve(verdict))
    peer.set(serveApproval({ ...approval, headersHash: `0x${'cd'.repeat(32)}` }))
    expect(await pull(true)).toEqual([])
    expect(await rejections('RETARGET_HEADERS_DIFFER')).toBe(1)
    peer.set(serveApproval({ ...approval, epoch: '366' }))
    expect(await pull(true)).toEqual([])
    expect(await rejections('BAD_ENVELOPE')).toBe(1)
    peer.set(serveApproval(approval))
    expect(await pull(false)).toEqual([])
    expect(await rejections('BAD_RETARGET_APPROVAL')).toBe(1)
    expect(await pull(true)).toEqual([
      { relayerId: 'relayer-2', headersHash: ours, signer: approval.signer, signature: approval.signature },
    ])
    // A peer already counted is not asked again.
    expect(
      await gossip().pullRetargetApprovals('eip155:1', 367n, ours, new Set(['relayer-2']), () =>
        Promise.resolve(true),
      ),
    ).toEqual([])
  })
})
