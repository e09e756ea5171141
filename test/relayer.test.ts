import { REFERENCE_ORDER_GPU, referenceGpu } from '../devkit/gpu/referenceGpu.js'
import { describe, expect, it } from 'vitest'
import type { ChainEvent, EscrowChainRuntime, SettlementSignature, SubmitOutcome } from '../src/chains.js'
import { QantaraError } from '../src/errors.js'
import { silentLogger } from '../src/log.js'
import { createMetrics } from '../src/metrics.js'
import type { OrderTerms } from '../src/order.js'
import { Relayer } from '../src/relay/relayer.js'
import { submitterRank } from '../src/relay/turns.js'
import type { Settlement } from '../src/settlement.js'
import { SqliteStore } from '../src/store/sqlite.js'

// The relayer's decisions with an injected clock, an in-memory store and a scripted chain runtime standing in for
// a real chain (the integration suites run the same loop against anvil, litesvm, simd and btcd).
const CHAIN = 'eip155:31337'
const ORDER: OrderTerms = {
  id: `0x${'ab'.repeat(32)}`,
  chain: CHAIN,
  renter: '0xrenter',
  token: 'native',
  amount: 1_000_000n,
  providerId: `0x${'cd'.repeat(32)}`,
  payout: '0xpayout',
  start: 100n,
  slotLength: 10,
  slots: 4,
  gpu: REFERENCE_ORDER_GPU,
}
const block = { height: 1n, hash: '0x01' }

interface Scripted {
  runtime: EscrowChainRuntime
  posts: { settlement: Settlement; signatures: SettlementSignature[]; at: number }[]
  /** What each post does, in turn: an outcome, or an error thrown. */
  script: (SubmitOutcome | Error)[]
}

function scriptedChain(clock: { now: number }): Scripted {
  const s: Scripted = { posts: [], script: [], runtime: undefined as unknown as EscrowChainRuntime }
  s.runtime = {
    kind: 'escrow',
    chain: CHAIN,
    feeRecipient: '',
    maxLag: 5n,
    pollIntervalMs: 1_000,
    watcher: { chain: CHAIN, poll: () => Promise.reject(new Error('not polled in these tests')) },
    signSettlement: (order) => Promise.resolve({ signer: '0xme', signature: `sig-${order.id.slice(0, 6)}` }),
    verifySettlementSignature: () => Promise.resolve(true),
    settlementStatement: () => ({ scheme: 'ed25519', message: 'scripted' }),
    submitSettlement: (_order, settlement, signatures) => {
      s.posts.push({ settlement, signatures, at: clock.now })
      const next = s.script.shift() ?? { status: 'submitted', txHash: '0xtx', confirmations: 1 }
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next)
    },
  }
  return s
}

function market(o: { members?: string[]; relayerId?: string } = {}) {
  const clock = { now: 0 }
  const store = new SqliteStore(':memory:')
  const chain = scriptedChain(clock)
  const probed: number[] = []
  const relayer = new Relayer({
    relayerId: o.relayerId ?? 'r1',
    members: o.members ?? ['r1'],
    threshold: 1,
    // The dev kit's CPU reference device is what these providers report.
    acceptTestGpuClasses: true,
    feeBps: 0,
    graceSeconds: 5,
    failoverSeconds: 10,
    store,
    chains: [chain.runtime],
    metrics: createMetrics(),
    logger: silentLogger(),
    nowMs: () => clock.now,
    prober: {
      schedule: () => void probed.push(clock.now),
      prune: () => undefined,
      drain: () => Promise.resolve(),
    },
  })
  const signal = new AbortController().signal
  const open = (order: OrderTerms = ORDER) =>
    store.commitEvents(
      CHAIN,
      [{ kind: 'OrderOpened', chain: CHAIN, key: `open:${order.id}`, block, txHash: '0xopen', order }],
      block,
    )
  const event = (e: ChainEvent) => store.commitEvents(CHAIN, [e], block)
  const heartbeat = (slot: number) =>
    store.putHeartbeats([
      {
        orderId: ORDER.id,
        slot,
        relayerId: 'r1',
        // What settlement reads of a kept heartbeat: its telemetry, here the dev kit's reference device.
        body: JSON.stringify({ heartbeat: { slot, gpus: [referenceGpu()] } }),
        receivedAt: 0,
      },
    ])
  /** Sets the clock, ticks, and lets the background steps the tick started finish. */
  const at = async (seconds: number) => {
    clock.now = seconds * 1000
    await relayer.tick(signal)
    await new Promise((r) => setImmediate(r))
    await new Promise((r) => setImmediate(r))
  }
  const state = async () => (await store.getOrder(ORDER.id))?.state
  return { relayer, store, chain, clock, probed, open, event, heartbeat, at, state }
}

describe('relayer lifecycle with an injected clock', () => {
  it('takes an order from opened to settled by the clock, probing only while its slots run', async () => {
    const m = market()
    await m.open()
    await m.at(50)
    expect(await m.state()).toBe('opened')
    await m.at(100)
    expect(await m.state()).toBe('active')
    expect(m.probed).toEqual([100_000])
    await m.heartbeat(0)
    await m.heartbeat(2)
    await m.at(140)
    expect(await m.state()).toBe('ended')
    await m.at(144)
    expect(await m.state()).toBe('ended')
    expect(m.chain.posts).toHaveLength(0)
    await m.at(145)
    expect(await m.state()).toBe('settled')
    const record = await m.store.getOrder(ORDER.id)
    expect(record).toMatchObject({ reason: 'PARTIAL_DOWNTIME', uptime: 'T.T.', txHash: '0xtx' })
    expect(
      m.chain.posts.map((p) => [p.settlement.upSlots, p.settlement.toProvider, p.settlement.toRenter]),
    ).toEqual([[2, 500_000n, 500_000n]])
    expect(m.chain.posts[0]!.signatures).toEqual([{ signer: '0xme', signature: 'sig-0xabab' }])
    expect(m.probed).toEqual([100_000])
  })

  it('reads only the orders that are due: an active order once a slot, not every tick', async () => {
    const m = market()
    const orders = Array.from({ length: 20 }, (_, i) => ({
      ...ORDER,
      id: `0x${(i + 1).toString(16).padStart(64, '0')}` as const,
    }))
    for (const order of orders) await m.open(order)
    let read = 0
    const listDue = m.store.listDueOrders.bind(m.store)
    m.store.listDueOrders = async (nowMs, limit) => {
      const due = await listDue(nowMs, limit)
      read += due.length
      return due
    }
    await m.at(100)
    expect(m.probed).toHaveLength(20)
    expect(read).toBe(20)
    for (const t of [100.25, 101, 105, 109.99]) await m.at(t)
    expect(read).toBe(20)
    await m.at(110)
    expect(read).toBe(40)
    expect(m.probed).toHaveLength(40)
    // An event moves an order (the renter reclaimed it): due at once, and then never again.
    await m.event({
      kind: 'OrderReclaimed',
      chain: CHAIN,
      key: 'reclaim',
      block,
      txHash: '0xreclaim',
      orderId: orders[0]!.id,
      amount: ORDER.amount,
    })
    await m.at(111)
    expect((await m.store.getOrder(orders[0]!.id))?.state).toBe('refunded')
    expect(read).toBe(40)
    await m.at(120)
    expect(read).toBe(59)
  })

  it('works through a backlog in pages of 1,000, saying when more are due', async () => {
    const m = market()
    for (let i = 0; i < 2_500; i++)
      await m.open({ ...ORDER, id: `0x${(i + 1).toString(16).padStart(64, '0')}` })
    m.clock.now = 110_000
    const pages: [boolean, number][] = []
    for (let more = true; more;) {
      const before = m.probed.length
      more = await m.relayer.tick(new AbortController().signal)
      pages.push([more, m.probed.length - before])
    }
    expect(pages).toEqual([
      [true, 1_000],
      [true, 1_000],
      [false, 500],
    ])
    expect((await m.store.countOrdersByState()).active).toBe(2_500)
  })

  it('does not tick again at once for a page of orders that stay due (their chain is not configured here)', async () => {
    const m = market()
    const elsewhere = 'eip155:999'
    for (let i = 0; i < 1_000; i++)
      await m.store.insertOrder(
        { ...ORDER, chain: elsewhere, id: `0x${(i + 1).toString(16).padStart(64, '0')}` },
        0,
      )
    // Past their end and grace: each is due to settle, on a chain this relayer has no runtime for.
    m.clock.now = 200_000
    const signal = new AbortController().signal
    const ticks = [await m.relayer.tick(signal), await m.relayer.tick(signal)]
    expect(ticks).toEqual([false, false])
    expect((await m.store.countOrdersByState()).ended).toBe(1_000)
    expect(await m.store.listDueOrders(m.clock.now, 2_000)).toHaveLength(1_000)
  })

  it('keeps advancing every order when one names a start no clock reaches (2^64 - 1 s): it is looked at hourly', async () => {
    const m = market()
    const far = { ...ORDER, id: `0x${'0f'.repeat(32)}` as const, start: 2n ** 64n - 1n }
    await m.open(far)
    await m.open()
    await m.at(100)
    expect(await m.state()).toBe('active')
    expect((await m.store.getOrder(far.id))?.state).toBe('opened')
    // Due in an hour at most, as a whole number of ms a store keeps; the tick goes on for the others meanwhile.
    expect(await m.store.listDueOrders(100_000 + 3_600_000 - 1, 10)).toHaveLength(1)
    expect((await m.store.listDueOrders(100_000 + 3_600_000, 10)).map((o) => o.terms.id)).toContain(far.id)
    await m.at(145)
    expect(await m.state()).toBe('settled')
  })

  it('waits its place in line: the member ranked k posts failoverSeconds × k after the quorum formed', async () => {
    const members = ['r1', 'r2', 'r3']
    const last = members.find((m) => submitterRank(ORDER.id, members, m) === 2)!
    const m = market({ members, relayerId: last })
    await m.open()
    await m.at(145)
    expect(await m.state()).toBe('settling')
    await m.at(164.9)
    expect(m.chain.posts).toHaveLength(0)
    await m.at(165)
    expect(m.chain.posts.map((p) => p.at)).toEqual([165_000])
    expect(await m.state()).toBe('settled')
  })

  it('backs off a failed post 1 s, then 2 s, and settles once the chain takes it', async () => {
    const m = market()
    m.chain.script.push(
      new QantaraError('RPC_UNAVAILABLE', 'down', { retryable: true }),
      new QantaraError('RPC_UNAVAILABLE', 'down', { retryable: true }),
    )
    await m.open()
    await m.at(145)
    await m.at(145.9)
    await m.at(146)
    await m.at(147.9)
    await m.at(148)
    expect(m.chain.posts.map((p) => p.at)).toEqual([145_000, 146_000, 148_000])
    expect(await m.state()).toBe('settled')
  })

  it('marks an order refunded when the renter reclaimed it first, and disputed when the chain refuses it for good', async () => {
    const reclaimed = market()
    reclaimed.chain.script.push(
      new QantaraError('SUBMIT_REVERTED', 'reclaimed', { context: { revert: 'AlreadyRefunded' } }),
    )
    await reclaimed.open()
    await reclaimed.at(145)
    expect(await reclaimed.state()).toBe('refunded')

    const refused = market()
    refused.chain.script.push(
      new QantaraError('SUBMIT_REVERTED', 'bad', { context: { revert: 'BadSettlement' } }),
    )
    await refused.open()
    await refused.at(145)
    expect(await refused.state()).toBe('disputed')
  })

  it("keeps the chain's split when the order is settled on chain before it posts", async () => {
    const m = market({
      members: ['r1', 'r2', 'r3'],
      relayerId: ['r1', 'r2', 'r3'].find((id) => submitterRank(ORDER.id, ['r1', 'r2', 'r3'], id) === 2)!,
    })
    await m.open()
    await m.at(145)
    const onChain: Settlement = {
      orderId: ORDER.id,
      toProvider: 250_000n,
      toRenter: 750_000n,
      fee: 0n,
      feeRecipient: '',
      upSlots: 1,
      totalSlots: 4,
      heartbeatRoot: `0x${'00'.repeat(32)}`,
    }
    await m.event({
      kind: 'OrderSettled',
      chain: CHAIN,
      key: 'settled',
      block,
      txHash: '0xpeer',
      orderId: ORDER.id,
      settlement: onChain,
    })
    await m.at(146)
    expect(await m.store.getOrder(ORDER.id)).toMatchObject({
      state: 'settled',
      txHash: '0xpeer',
      settlement: onChain,
      reason: 'PARTIAL_DOWNTIME',
    })
    await m.at(200)
    expect(m.chain.posts).toHaveLength(0)
  })

  it("refuses an opened order outside the protocol's bounds without storing it", async () => {
    const m = market()
    await m.open({ ...ORDER, amount: 3n })
    await m.at(1)
    expect(await m.store.getOrder(ORDER.id)).toBeUndefined()
  })
})
