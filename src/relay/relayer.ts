import { abortableDelay } from '../abort.js'
import type { BtcPayoutRail, ChainEvent, ChainRuntime, SettlementSignature, WatchResult } from '../chains.js'
import { computeSettlement, type SettlementResult } from '../computeSettlement.js'
import { errorMessage, isQantaraError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import { BTC_DUST_SATS, orderEnd, orderTermsProblem, satsOwed, type OrderTerms } from '../order.js'
import type { Gossip } from '../peer/gossip.js'
import type { Settlement } from '../settlement.js'
import { settlementHash } from '../settlementWire.js'
import { ORDER_STATES, type OrderRecord, type Store } from '../store/store.js'
import { runWatchLoop } from '../watchLoop.js'
import { refundOrder } from '../vault/refund.js'
import type { Prober } from './prober.js'
import { RelayFeeder } from './relayFeeder.js'
import { submitterRank } from './submitterRank.js'

export interface RelayerOptions {
  relayerId: string
  /** Every quorum member's id, this relayer's included. */
  members: string[]
  threshold: number
  /** Absent for a relayer without peers. */
  gossip?: Gossip
  gossipIntervalMs?: number
  /** Extra wait after end + grace for peers' heartbeats to arrive before settling. */
  gossipWindowSeconds?: number
  /** How long each submitter in line waits for the one before it. */
  failoverSeconds?: number
  /** Devnet and tests only: sign an inflated settlement and submit it alone, as a byzantine relayer would. */
  byzantine?: boolean
  /** Where BTC payouts are seen and proved, for orders whose provider is paid in BTC. */
  btc?: BtcPayoutRail
  /** Accepts a provider record replicated from a peer (checked against its own URL). */
  registry?: { submit(record: unknown, signal?: AbortSignal): Promise<unknown>; known(providerId: string, seq: number): Promise<boolean> }
  feeBps: number
  graceSeconds: number
  /** How long after a vault deposit that opened no order it is refunded. */
  refundAfterSeconds?: number
  store: Store
  chains: ChainRuntime[]
  prober: Prober
  metrics: Metrics
  logger: Logger
  tickMs?: number
  nowMs?: () => number
}

export interface ChainStatus {
  head?: bigint
  lag?: bigint
  checkpoint?: bigint
  stopped?: string
}

const EVENTS_CURSOR = 'relay:events'
const TERMINAL = ['settled', 'refunded', 'disputed'] as const
const LIVE = ORDER_STATES.filter((s) => !(TERMINAL as readonly string[]).includes(s))

/**
 * The relayer's main loop: watchers feed finalised events into the store; a
 * ticker moves orders through opened → active → ended → settling → settled by
 * the clock, schedules probes for active slots, computes each settlement once
 * (persisted before it is signed, so a restart never signs a different one)
 * and submits it.
 */
export class Relayer {
  readonly status = new Map<string, ChainStatus>()
  private readonly inFlight = new Set<string>()
  private readonly retryAt = new Map<string, number>()
  private readonly failures = new Map<string, number>()
  private readonly lastGossip = new Map<string, number>()
  private readonly quorumAt = new Map<string, number>()
  private readonly now: () => number
  private readonly log: Logger
  private lastGauge = 0

  constructor(private readonly o: RelayerOptions) {
    this.now = o.nowMs ?? Date.now
    this.log = o.logger.child({ module: 'relayer' })
    for (const c of o.chains) this.status.set(c.chain, {})
    if (o.btc) this.status.set(o.btc.chain, {})
  }

  async run(signal: AbortSignal): Promise<void> {
    const watched = [...this.o.chains.map((c) => ({ chain: c.chain, watcher: c.watcher, intervalMs: c.pollIntervalMs })), ...(this.o.btc ? [{ chain: this.o.btc.chain, watcher: this.o.btc.watcher, intervalMs: this.o.btc.pollIntervalMs }] : [])]
    const watchers = watched.map((c) =>
      runWatchLoop(c.watcher, { store: this.o.store, logger: this.o.logger, intervalMs: c.intervalMs, onProgress: (r) => this.progress(c.chain, r) }, signal).catch((err: unknown) => {
        this.status.set(c.chain, { ...this.status.get(c.chain), stopped: errorMessage(err) })
      }),
    )
    const ticker = (async () => {
      while (!signal.aborted) {
        try {
          await this.tick(signal)
        } catch (err) {
          this.log.error({ err: errorMessage(err) }, 'tick failed')
        }
        await abortableDelay(this.o.tickMs ?? 250, signal).catch(() => undefined)
      }
    })()
    await Promise.all([...watchers, ticker, this.feedRelays(signal)])
    await this.o.prober.drain()
  }

  /** Keeps the escrow chains' light relays on Bitcoin's epoch, where BTC payouts are proved. */
  private async feedRelays(signal: AbortSignal): Promise<void> {
    const rail = this.o.btc
    if (!rail || !this.o.chains.some((c) => c.btcRelay)) return
    const feeder = new RelayFeeder({ relayerId: this.o.relayerId, members: this.o.members, rail, chains: this.o.chains, failoverSeconds: this.o.failoverSeconds ?? 10, logger: this.o.logger, nowMs: this.now })
    while (!signal.aborted) {
      await feeder.tick(signal)
      await abortableDelay(rail.pollIntervalMs, signal).catch(() => undefined)
    }
  }

  private progress(chain: string, r: WatchResult): void {
    this.status.set(chain, { head: r.head, lag: r.lag, checkpoint: r.checkpoint.height })
    this.o.metrics.chainHead.set({ chain }, Number(r.head))
    this.o.metrics.chainLag.set({ chain }, Number(r.lag))
  }

  /** One pass: apply new chain events, then advance every live order by the clock. */
  async tick(signal: AbortSignal): Promise<void> {
    await this.applyEvents()
    const nowS = this.now() / 1000
    for (const record of await this.o.store.listOrders(LIVE)) {
      if (signal.aborted) return
      const id = record.terms.id
      if ((this.retryAt.get(`tick:${id}`) ?? 0) > this.now()) continue
      // One order that throws (bad terms from an old store, a bug, a store hiccup) is set aside for a while; the others go on.
      try {
        await this.advance(record, nowS, signal)
      } catch (err) {
        this.backOff(`tick:${id}`)
        this.o.metrics.orderFailures.inc({ step: 'advance' })
        this.log.error({ orderId: id, state: record.state, err: errorMessage(err) }, 'advancing order failed; skipping it for now')
      }
    }
    this.o.prober.prune()
    this.replicateProviders(signal)
    if (this.now() - this.lastGauge > 5_000) await this.updateGauges()
  }

  private async applyEvents(): Promise<void> {
    for (;;) {
      const after = await this.o.store.getCursor(EVENTS_CURSOR)
      const batch = await this.o.store.listEvents({ afterSeq: after, limit: 500 })
      if (batch.length === 0) return
      for (const { seq, event } of batch) {
        try {
          await this.apply(event)
        } catch (err) {
          // A store that cannot take writes right now: stop here and apply this event again next tick.
          if (isQantaraError(err) && err.retryable) {
            await this.o.store.setCursor(EVENTS_CURSOR, seq - 1)
            throw err
          }
          // Anything else is this event's own fault: it must not hold back every event after it.
          this.o.metrics.orderFailures.inc({ step: 'event' })
          this.log.error({ chain: event.chain, kind: event.kind, key: event.key, err: errorMessage(err) }, 'chain event could not be applied; skipped')
        }
      }
      await this.o.store.setCursor(EVENTS_CURSOR, batch.at(-1)!.seq)
    }
  }

  private async apply(e: ChainEvent): Promise<void> {
    const now = this.now()
    switch (e.kind) {
      case 'OrderOpened': {
        // The escrow and the memo codec refuse such terms too; this holds for any chain or contract version.
        const problem = orderTermsProblem(e.order)
        if (problem) {
          this.o.metrics.ordersRefused.inc({ chain: e.chain, reason: problem })
          this.log.warn({ orderId: e.order.id, chain: e.chain, reason: problem, slots: e.order.slots, slotLength: e.order.slotLength }, 'opened order out of the protocol\'s bounds; not taken on')
          return
        }
        if (await this.o.store.insertOrder(e.order, now)) this.log.info({ orderId: e.order.id, chain: e.chain, amount: e.order.amount.toString() }, 'order opened')
        return
      }
      case 'OrderSettled': {
        const mine = await this.o.store.getOrder(e.orderId)
        if (mine?.settlement && (mine.settlement.toProvider !== e.settlement.toProvider || mine.settlement.toRenter !== e.settlement.toRenter)) {
          this.log.warn({ orderId: e.orderId, ours: mine.settlement, onChain: e.settlement }, 'order settled on chain with a split that differs from ours')
        }
        // A provider paid in BTC is owed its share until the payout is proved (or the deadline's fallback pays it).
        const owed = mine?.terms.btc && satsOwed(mine.terms.btc, e.settlement.toProvider) >= BTC_DUST_SATS
        await this.o.store.transitionOrder(e.orderId, LIVE, owed ? 'payout-pending' : 'settled', { txHash: e.txHash, settlement: mine?.settlement ?? e.settlement }, now)
        if (!owed) this.forget(e.orderId)
        return
      }
      case 'BtcPayoutSeen':
        await this.payoutSeen(e)
        return
      case 'BtcPayoutProved':
        await this.o.store.transitionOrder(e.orderId, LIVE, 'settled', { btcTxid: e.btcTxid, btcSats: e.sats }, now)
        this.forget(e.orderId)
        return
      case 'BtcPayoutFallback':
        await this.o.store.transitionOrder(e.orderId, LIVE, 'settled', {}, now)
        this.forget(e.orderId)
        return
      case 'OrderReclaimed':
        await this.o.store.transitionOrder(e.orderId, LIVE, 'refunded', { txHash: e.txHash }, now)
        this.forget(e.orderId)
        return
      case 'RelayerSetUpdated':
        // Releases are checked against the set the chain holds at that moment, so signatures are picked by it, not by the config.
        if (await this.o.store.putRelayerSet(e.chain, { version: e.version, members: e.members, threshold: e.threshold })) {
          this.log.info({ chain: e.chain, version: e.version.toString(), members: e.members, threshold: e.threshold }, 'relayer set updated')
        }
        return
      case 'VaultReleased': {
        const mine = await this.o.store.getOrder(e.orderId)
        if (!mine) return
        const paid = (owner: string) => e.payments.filter((p) => p.owner === owner).reduce((a, p) => a + p.amount, 0n)
        const s = mine.settlement
        if (s && mine.terms.payout !== mine.terms.renter && (paid(mine.terms.payout) !== s.toProvider || paid(mine.terms.renter) !== s.toRenter)) {
          this.log.warn({ orderId: e.orderId, ours: s, payments: e.payments }, 'vault released a split that differs from ours')
        }
        await this.o.store.transitionOrder(e.orderId, LIVE, 'settled', { txHash: e.txHash, ...(s ? { settlement: s } : {}) }, now)
        this.forget(e.orderId)
        return
      }
      case 'VaultDepositIgnored': {
        const refund = this.runtime(e.chain)?.cosignRelease ? refundOrder(e, BigInt(Math.floor(now / 1000)), this.o.refundAfterSeconds ?? 3_600) : undefined
        this.log.warn({ chain: e.chain, txHash: e.txHash, reason: e.reason, sender: e.sender, amount: e.amount.toString(), refundOrder: refund?.id }, refund ? 'vault deposit opened no order; refunding it to its sender' : 'vault deposit opened no order and cannot be refunded (no sender or nothing received)')
        if (refund) await this.o.store.insertOrder(refund, now)
        return
      }
    }
  }

  /** Drops the in-memory bookkeeping of an order that reached a final state. */
  private forget(id: string): void {
    for (const m of [this.retryAt, this.failures, this.quorumAt]) {
      m.delete(id)
      m.delete(`btc:${id}`)
      m.delete(`tick:${id}`)
    }
    this.lastGossip.delete(`hb:${id}`)
    this.lastGossip.delete(`sig:${id}`)
    this.o.gossip?.forget(id)
  }

  private async advance(record: OrderRecord, nowS: number, signal: AbortSignal): Promise<void> {
    const { terms } = record
    const id = terms.id
    const start = Number(terms.start)
    const end = Number(orderEnd(terms))
    const now = this.now()
    let state = record.state
    if (state === 'opened' && nowS >= start && (await this.o.store.transitionOrder(id, ['opened'], 'active', {}, now))) state = 'active'
    if (state === 'active' && nowS < end) this.o.prober.schedule(terms, signal)
    if (state === 'active' || state === 'ended') this.gossipHeartbeats(terms, signal)
    if ((state === 'opened' || state === 'active') && nowS >= end && (await this.o.store.transitionOrder(id, ['opened', 'active'], 'ended', {}, now))) state = 'ended'
    if (state === 'ended' && nowS >= end + this.o.graceSeconds + (this.o.gossipWindowSeconds ?? 0)) {
      const chain = this.runtime(terms.chain)
      if (!chain) return
      // A last pull, so the union this settlement is computed from is as complete as the peers can make it.
      await this.o.gossip?.pullHeartbeats(terms, signal)
      const heartbeats = await this.o.store.listHeartbeats(id)
      const computed = computeSettlement(terms, heartbeats.map((h) => ({ orderId: h.orderId, slot: h.slot, relayerId: h.relayerId, leaf: Buffer.from(h.body) })), {
        threshold: this.o.threshold,
        feeBps: chain.feeRecipient ? this.o.feeBps : 0,
        feeRecipient: chain.feeRecipient,
      })
      const { settlement, reason, uptime } = this.o.byzantine ? inflate(computed, terms.amount, this.o.feeBps) : computed
      if (await this.o.store.transitionOrder(id, ['ended'], 'settling', { settlement, reason, uptime }, now)) {
        this.log.info({ orderId: id, reason, uptime, toProvider: settlement.toProvider.toString(), toRenter: settlement.toRenter.toString() }, 'settlement computed')
        state = 'settling'
      }
    }
    if (state === 'settling') this.submit(id, signal)
    if (state === 'payout-pending') this.btcStep(record, nowS, signal)
  }

  /**
   * Keeps the first mined payout tagged for the order that pays its provider's
   * script; a later one replaces it only while the kept one pays less than owed.
   */
  private async payoutSeen(e: Extract<ChainEvent, { kind: 'BtcPayoutSeen' }>): Promise<void> {
    const record = await this.o.store.getOrder(e.orderId)
    const btc = record?.terms.btc
    if (!record || !btc) return
    const paid = e.outputs.filter((o) => o.script === btc.script).reduce((s, o) => s + o.sats, 0n)
    if (paid === 0n) return
    const owed = record.settlement ? satsOwed(btc, record.settlement.toProvider) : undefined
    if (record.btcTxid && (owed === undefined || (record.btcSats ?? 0n) >= owed)) return
    this.log.info({ orderId: e.orderId, btcTxid: e.txHash, sats: paid.toString(), owed: owed?.toString() }, 'bitcoin payout seen')
    await this.o.store.transitionOrder(e.orderId, [record.state], record.state, { btcTxid: e.txHash, btcBlock: e.block.hash, btcSats: paid }, this.now())
  }

  /**
   * A BTC order whose share is owed: prove its payout while the deadline
   * allows, else have the escrow pay the provider on its own chain. Both go
   * in submitter order, with the same fail-over as settlements.
   */
  private btcStep(record: OrderRecord, nowS: number, signal: AbortSignal): void {
    const { terms, settlement } = record
    const chain = this.runtime(terms.chain)
    const key = `btc:${terms.id}`
    if (!terms.btc || !settlement || !chain || this.inFlight.has(key) || (this.retryAt.get(key) ?? 0) > this.now()) return
    const owed = satsOwed(terms.btc, settlement.toProvider)
    const proving = record.btcTxid !== undefined && record.btcBlock !== undefined && (record.btcSats ?? 0n) >= owed && nowS <= Number(terms.btc.payoutDeadline)
    const fallback = nowS > Number(terms.btc.payoutDeadline)
    if (!proving && !fallback) return
    if (!this.quorumAt.has(key)) this.quorumAt.set(key, this.now())
    const rank = submitterRank(terms.id, this.o.members, this.o.relayerId)
    if (this.now() < this.quorumAt.get(key)! + rank * (this.o.failoverSeconds ?? 10) * 1000) return
    this.inFlight.add(key)
    void (async () => {
      try {
        let outcome
        if (proving && this.o.btc && chain.proveBtcPayout) {
          const proof = await this.o.btc.buildProof(record.btcTxid!, record.btcBlock!, signal)
          outcome = await chain.proveBtcPayout(terms, settlement.toProvider, proof, signal)
        } else if (fallback && chain.claimBtcFallback) {
          outcome = await chain.claimBtcFallback(terms, settlement.toProvider, signal)
        } else {
          return
        }
        await this.o.store.transitionOrder(terms.id, ['payout-pending'], 'settled', {}, this.now())
        this.log.info({ orderId: terms.id, outcome: outcome.status, via: proving ? 'proof' : 'fallback', btcTxid: record.btcTxid }, proving ? 'bitcoin payout proved' : 'bitcoin payout deadline passed; provider paid on the escrow chain')
        this.forget(terms.id)
      } catch (err) {
        if (isQantaraError(err, 'ABORTED')) return
        this.backOff(key)
        this.log.warn({ orderId: terms.id, err: errorMessage(err) }, 'bitcoin payout step failed; will retry')
      } finally {
        this.inFlight.delete(key)
      }
    })()
  }

  /** Every few gossip intervals, copies the provider records peers hold, so a provider registered anywhere is found everywhere. */
  private replicateProviders(signal: AbortSignal): void {
    const { gossip, registry } = this.o
    if (!gossip || !registry || this.inFlight.has('providers') || this.now() - (this.lastGossip.get('providers') ?? 0) < 5 * (this.o.gossipIntervalMs ?? 1_000)) return
    this.inFlight.add('providers')
    this.lastGossip.set('providers', this.now())
    void gossip.pullProviders((r) => registry.submit(r, signal), (id, seq) => registry.known(id, seq), signal).catch(() => 0).finally(() => this.inFlight.delete('providers'))
  }

  /** Pulls peers' heartbeats for a live order in the background, at most once per gossip interval. */
  private gossipHeartbeats(terms: OrderTerms, signal: AbortSignal): void {
    const gossip = this.o.gossip
    if (!gossip) return
    const key = `hb:${terms.id}`
    if (this.inFlight.has(key) || this.now() - (this.lastGossip.get(key) ?? 0) < (this.o.gossipIntervalMs ?? 1_000)) return
    this.inFlight.add(key)
    this.lastGossip.set(key, this.now())
    void gossip.pullHeartbeats(terms, signal).catch(() => 0).finally(() => this.inFlight.delete(key))
  }

  private submit(id: string, signal: AbortSignal): void {
    if (this.inFlight.has(id) || (this.retryAt.get(id) ?? 0) > this.now()) return
    this.inFlight.add(id)
    void this.settleStep(id, signal).finally(() => this.inFlight.delete(id))
  }

  /**
   * One step for a settling order: sign our stored settlement once, gather
   * peers' signatures over the same bytes, and once `threshold` are in, submit
   * if it is our turn: members are ranked per order by sha256(orderId ‖ id),
   * and each waits `failoverSeconds` more than the one before it.
   */
  private async settleStep(id: string, signal: AbortSignal): Promise<void> {
    // Always the stored settlement: computed once, so every signature over this order is over the same bytes.
    const record = await this.o.store.getOrder(id)
    if (!record?.settlement || record.state !== 'settling') return
    const chain = this.runtime(record.terms.chain)
    if (!chain) return
    const { terms, settlement } = record
    const hash = settlementHash(settlement)
    try {
      let signatures = await this.o.store.listSignatures(id)
      if (!signatures.some((s) => s.relayerId === this.o.relayerId)) {
        const own = await chain.signSettlement(terms, settlement)
        await this.o.store.putSignature({ orderId: id, relayerId: this.o.relayerId, settlementHash: hash, ...own, receivedAt: this.now() })
      }
      const gossipKey = `sig:${id}`
      if (this.o.gossip && this.now() - (this.lastGossip.get(gossipKey) ?? 0) >= (this.o.gossipIntervalMs ?? 1_000)) {
        this.lastGossip.set(gossipKey, this.now())
        await this.o.gossip.pullSignatures(terms, settlement, (peer, sig) => chain.verifySettlementSignature(terms, settlement, peer, sig), signal)
      }
      const set = await this.o.store.getRelayerSet(chain.chain)
      signatures = (await this.o.store.listSignatures(id)).filter((s) => s.settlementHash === hash && (!set || set.members.includes(s.signer)))
      const needed = set?.threshold ?? this.o.threshold
      if (!this.o.byzantine) {
        if (signatures.length < needed) return
        if (!this.quorumAt.has(id)) this.quorumAt.set(id, this.now())
        const rank = submitterRank(id, this.o.members, this.o.relayerId)
        if (this.now() < this.quorumAt.get(id)! + rank * (this.o.failoverSeconds ?? 10) * 1000) return
      }
      await this.post(id, chain, terms, settlement, signatures.slice(0, needed), signal)
    } catch (err) {
      await this.failed(id, err)
    }
  }

  private async post(id: string, chain: ChainRuntime, terms: OrderTerms, settlement: Settlement, signatures: SettlementSignature[], signal: AbortSignal): Promise<void> {
    const started = this.now()
    this.o.metrics.settlementsSubmitted.inc({ chain: chain.chain })
    const outcome = await chain.submitSettlement(terms, settlement, signatures.map((s) => ({ signer: s.signer, signature: s.signature })), signal)
    const txHash = outcome.status === 'submitted' ? outcome.txHash : undefined
    const owedInBtc = terms.btc !== undefined && satsOwed(terms.btc, settlement.toProvider) >= BTC_DUST_SATS
    await this.o.store.transitionOrder(id, ['settling'], owedInBtc ? 'payout-pending' : 'settled', txHash ? { txHash } : {}, this.now())
    this.o.metrics.settlementsConfirmed.inc({ chain: chain.chain, outcome: outcome.status })
    this.o.metrics.submitLatency.observe({ chain: chain.chain }, (this.now() - started) / 1000)
    this.log.info({ orderId: id, chain: chain.chain, outcome: outcome.status, txHash }, owedInBtc ? 'settlement final; the provider\'s share waits for its BTC payout' : 'settlement final')
    if (!owedInBtc) this.forget(id)
  }

  private async failed(id: string, err: unknown): Promise<void> {
    if (isQantaraError(err, 'ABORTED')) return
    if (isQantaraError(err, 'SUBMIT_REVERTED') && err.details === 'AlreadyRefunded') {
      await this.o.store.transitionOrder(id, ['settling'], 'refunded', {}, this.now())
      return
    }
    if (isQantaraError(err) && !err.retryable) {
      this.log.error({ orderId: id, err: errorMessage(err), details: err.details }, 'settlement cannot be posted; order disputed')
      await this.o.store.transitionOrder(id, ['settling'], 'disputed', {}, this.now())
      return
    }
    this.backOff(id)
    this.log.warn({ orderId: id, err: errorMessage(err) }, 'settlement submit failed; will retry')
  }

  /** Exponential backoff per key, 1 s doubling to a minute. */
  private backOff(key: string): void {
    const failures = (this.failures.get(key) ?? 0) + 1
    this.failures.set(key, failures)
    this.retryAt.set(key, this.now() + Math.min(60_000, 500 * 2 ** failures))
  }

  private runtime(chain: string): ChainRuntime | undefined {
    return this.o.chains.find((c) => c.chain === chain)
  }

  private async updateGauges(): Promise<void> {
    this.lastGauge = this.now()
    const all = await this.o.store.listOrders()
    for (const state of ORDER_STATES) this.o.metrics.orders.set({ state }, all.filter((o) => o.state === state).length)
  }

  /** Ready when every watcher runs within its lag bound of the head and the store takes writes. */
  async health(): Promise<{ ready: boolean; chains: Record<string, ChainStatus & { ready: boolean }>; store: boolean }> {
    const store = await this.o.store.isWritable()
    const chains: Record<string, ChainStatus & { ready: boolean }> = {}
    for (const c of this.o.chains) {
      const s = this.status.get(c.chain) ?? {}
      chains[c.chain] = { ...s, ready: !s.stopped && s.lag !== undefined && s.lag <= c.maxLag }
    }
    return { ready: store && Object.values(chains).every((c) => c.ready), chains, store }
  }
}

/** What a byzantine relayer signs: the provider paid in full whatever the heartbeats say. */
function inflate(r: SettlementResult, amount: bigint, feeBps: number): SettlementResult {
  const fee = (amount * BigInt(feeBps)) / 10_000n
  return { ...r, reason: 'FULL', uptime: '1'.repeat(r.settlement.totalSlots), settlement: { ...r.settlement, upSlots: r.settlement.totalSlots, toProvider: amount - fee, toRenter: 0n, fee } }
}
