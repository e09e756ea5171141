import { abortableDelay } from '../abort.js'
import type { BtcPayoutRail, ChainEvent, ChainRuntime, SettlementSignature, WatchResult } from '../chains.js'
import { reasonOf, type SettlementResult } from '../computeSettlement.js'
import { SignatureRefused, errorMessage, isQantaraError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import { BTC_DUST_SATS, btcProofWindowEnd, orderEnd, orderTermsProblem, satsOwed, type OrderTerms } from '../order.js'
import type { Gossip } from '../peer/gossip.js'
import type { Settlement } from '../settlement.js'
import { settlementHash } from '../settlementWire.js'
import { ORDER_STATES, type OrderRecord, type Store } from '../store/store.js'
import { runWatchLoop } from '../watchLoop.js'
import { refundOrder } from '../vault/refund.js'
import type { Prober } from './prober.js'
import { RelayFeeder } from './relayFeeder.js'
import { RetargetApprovals } from './retargetApprovals.js'
import { submitterRank } from './submitterRank.js'
import { honestStrategy, type SettlementStrategy } from './settlementStrategy.js'

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
  /** What to sign and when to post; the honest strategy unless the dev kit plays a faulty member. */
  strategy?: SettlementStrategy
  /** Where BTC payouts are seen and proved, for orders whose provider is paid in BTC. */
  btc?: BtcPayoutRail
  /** Light relay retarget approvals, shared with the peer routes that serve this relayer's own. */
  retargetApprovals?: RetargetApprovals
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
/** Longest the last heartbeat pull before settling may take. */
const FINAL_PULL_MS = 30_000
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
  /** Orders whose last heartbeat pull before settling is done (in memory: after a restart it is pulled again). */
  private readonly finalPulled = new Set<string>()
  /** Per order, peers whose signature the chain refused: left out of that order's sets. */
  private readonly refusedSigners = new Map<string, Set<string>>()
  private readonly now: () => number
  private readonly strategy: SettlementStrategy
  private readonly log: Logger
  private lastGauge = 0

  constructor(private readonly o: RelayerOptions) {
    this.now = o.nowMs ?? Date.now
    this.strategy = o.strategy ?? honestStrategy
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
    if (!rail || !this.o.chains.some((c) => c.kind === 'escrow' && c.btcPayouts)) return
    const feeder = new RelayFeeder({
      relayerId: this.o.relayerId, members: this.o.members, threshold: this.o.threshold, rail, chains: this.o.chains, store: this.o.store,
      approvals: this.o.retargetApprovals ?? new RetargetApprovals(), ...(this.o.gossip ? { gossip: this.o.gossip } : {}),
      failoverSeconds: this.o.failoverSeconds ?? 10, logger: this.o.logger, nowMs: this.now,
    })
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
        const problem = orderTermsProblem(e.order) ?? this.tokenProblem(e.order)
        if (problem) {
          this.o.metrics.ordersRefused.inc({ chain: e.chain, reason: problem })
          this.log.warn({ orderId: e.order.id, chain: e.chain, reason: problem, token: e.order.token, amount: e.order.amount.toString(), slots: e.order.slots, slotLength: e.order.slotLength }, 'opened order not taken on (out of the protocol\'s bounds, or a token or amount this relayer does not serve)')
          // On an escrow chain the renter reclaims it; in a vault only the quorum can move the deposit, so it is refunded.
          if (this.runtime(e.chain)?.kind === 'vault') await this.apply({ kind: 'VaultDepositIgnored', chain: e.chain, key: `${e.key}:refused`, block: e.block, txHash: e.txHash, reason: problem, sender: e.order.renter, token: e.order.token, amount: e.order.amount })
          return
        }
        if (await this.o.store.insertOrder(e.order, now)) {
          this.log.info({ orderId: e.order.id, chain: e.chain, amount: e.order.amount.toString() }, 'order opened')
          return
        }
        // A second deposit under an id already taken (the watchers refuse these; this catches one committed before they did).
        const first = (await this.o.store.listOrderEvents(e.chain, e.order.id)).find((x) => x.kind === 'OrderOpened')
        if (first && first.txHash !== e.txHash && this.runtime(e.chain)?.kind === 'vault') {
          await this.apply({ kind: 'VaultDepositIgnored', chain: e.chain, key: `${e.key}:duplicate`, block: e.block, txHash: e.txHash, reason: 'DUPLICATE_ORDER', sender: e.order.renter, token: e.order.token, amount: e.order.amount })
        }
        return
      }
      case 'OrderSettled': {
        const mine = await this.o.store.getOrder(e.orderId)
        if (mine?.settlement && (mine.settlement.toProvider !== e.settlement.toProvider || mine.settlement.toRenter !== e.settlement.toRenter)) {
          this.log.warn({ orderId: e.orderId, ours: mine.settlement, onChain: e.settlement }, 'order settled on chain with a split that differs from ours; the chain\'s is kept')
        }
        // A provider paid in BTC is owed its share until the payout is proved (or the fallback pays it).
        const owed = mine?.terms.btc && satsOwed(mine.terms.btc, e.settlement.toProvider) >= BTC_DUST_SATS
        // The chain's split, not ours: the escrow owes the BTC step on its own, and a proof or fallback for
        // another share matches no owed order there, so the step would give up (security review #16).
        await this.o.store.transitionOrder(e.orderId, LIVE, owed ? 'payout-pending' : 'settled', { txHash: e.txHash, settlement: e.settlement, reason: reasonOf(e.settlement) }, now)
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
        // Released by peers before this relayer computed its own (its last pull still running, say): what it makes of
        // its heartbeats still goes on record, so the order says why it settled as it did.
        const runtime = s ? undefined : this.runtime(e.chain)
        const own = runtime ? await this.settlementOf(mine.terms, runtime) : undefined
        await this.o.store.transitionOrder(e.orderId, LIVE, 'settled', { txHash: e.txHash, ...(s ? { settlement: s } : own ?? {}) }, now)
        this.forget(e.orderId)
        return
      }
      case 'VaultDepositIgnored': {
        const refund = this.runtime(e.chain)?.kind === 'vault' ? refundOrder(e, BigInt(Math.floor(now / 1000)), this.o.refundAfterSeconds ?? 3_600) : undefined
        this.log.warn({ chain: e.chain, txHash: e.txHash, reason: e.reason, sender: e.sender, amount: e.amount.toString(), refundOrder: refund?.id }, refund ? 'vault deposit opened no order; refunding it to its sender' : 'vault deposit opened no order and cannot be refunded (no sender or nothing received)')
        if (refund) await this.o.store.insertOrder(refund, now)
        else this.o.metrics.vaultDepositsUnrefunded.inc({ chain: e.chain })
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
    this.refusedSigners.delete(id)
    this.finalPulled.delete(id)
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
    if (state === 'active' || state === 'ended' || state === 'settling') this.gossipHeartbeats(terms, signal)
    if ((state === 'opened' || state === 'active') && nowS >= end && (await this.o.store.transitionOrder(id, ['opened', 'active'], 'ended', {}, now))) state = 'ended'
    if (state === 'ended' && nowS >= end + this.o.graceSeconds + (this.o.gossipWindowSeconds ?? 0)) {
      const chain = this.runtime(terms.chain)
      if (!chain) return
      // A last pull first, so the union this settlement is computed from is as complete as the peers can make it. It runs
      // beside the tick, under its own deadline: a peer answering slowly must not hold every other order back.
      if (this.o.gossip && !this.finalPulled.has(id)) return this.finalPull(terms, signal)
      const { settlement, reason, uptime } = await this.settlementOf(terms, chain)
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
   * A BTC order whose share is owed: prove its payout while the escrow
   * takes proofs; with no payout by the time the proof window closes, have
   * the escrow pay the provider on its own chain. Both go in submitter
   * order, with the same fail-over as settlements.
   */
  private btcStep(record: OrderRecord, nowS: number, signal: AbortSignal): void {
    const { terms, settlement } = record
    const chain = this.runtime(terms.chain)
    const key = `btc:${terms.id}`
    if (!terms.btc || !settlement || !chain || this.inFlight.has(key) || (this.retryAt.get(key) ?? 0) > this.now()) return
    // An order whose payout can no longer be proved is looked at (and logged) again hourly, in case an operator acts.
    const unprovableRecheckMs = 3_600_000
    const owed = satsOwed(terms.btc, settlement.toProvider)
    // A confirmed payout of what is owed means the provider has been paid: it is proved, even past the
    // deadline (the escrow takes a payout Bitcoin dates by the deadline until the proof window closes),
    // and the fallback, which would pay the provider a second time, is never claimed (PROTOCOL.md §7).
    const paid = record.btcTxid !== undefined && record.btcBlock !== undefined && (record.btcSats ?? 0n) >= owed
    const windowEnd = Number(btcProofWindowEnd(terms.btc))
    const proving = paid && nowS <= windowEnd
    // Only a Bitcoin watcher read up to its head can tell that no payout was made: one that is behind
    // (or a relayer that reads no Bitcoin) might be about to see it, so it claims nothing.
    const read = this.o.btc && this.status.get(this.o.btc.chain)
    const caughtUp = read !== undefined && read.lag !== undefined && !read.stopped && read.lag <= BigInt(this.o.btc!.confirmations)
    const fallback = !paid && nowS > windowEnd && caughtUp
    if (paid && !proving) {
      this.retryAt.set(key, this.now() + unprovableRecheckMs)
      this.log.error({ orderId: terms.id, btcTxid: record.btcTxid, windowEnd }, 'bitcoin payout made but not proved before the proof window closed; not claiming the fallback, the share stays in the escrow')
      return
    }
    if (!proving && !fallback) return
    if (!this.quorumAt.has(key)) this.quorumAt.set(key, this.now())
    const rank = submitterRank(terms.id, this.o.members, this.o.relayerId)
    if (this.now() < this.quorumAt.get(key)! + rank * (this.o.failoverSeconds ?? 10) * 1000) return
    this.inFlight.add(key)
    void (async () => {
      try {
        let outcome
        const btcPayouts = chain.kind === 'escrow' ? chain.btcPayouts : undefined
        if (proving && this.o.btc && btcPayouts) {
          const proof = await this.o.btc.buildProof(record.btcTxid!, record.btcBlock!, signal)
          outcome = await btcPayouts.prove(terms, settlement.toProvider, proof, signal)
        } else if (fallback && btcPayouts) {
          outcome = await btcPayouts.claimFallback(terms, settlement.toProvider, signal)
        } else {
          return
        }
        await this.o.store.transitionOrder(terms.id, ['payout-pending'], 'settled', {}, this.now())
        this.log.info({ orderId: terms.id, outcome: outcome.status, via: proving ? 'proof' : 'fallback', btcTxid: record.btcTxid }, proving ? 'bitcoin payout proved' : 'no bitcoin payout by the proof window\'s end; provider paid on the escrow chain')
        this.forget(terms.id)
      } catch (err) {
        if (isQantaraError(err, 'ABORTED')) return
        if (isQantaraError(err, 'SUBMIT_REVERTED') && err.details === 'PayoutMinedAfterDeadline') {
          // Past the deadline the escrow takes only a payout Bitcoin dates by it; this one never will be.
          this.retryAt.set(key, this.now() + unprovableRecheckMs)
          this.log.error({ orderId: terms.id, btcTxid: record.btcTxid }, 'bitcoin payout mined after the deadline cannot be proved; not claiming the fallback, the share stays in the escrow')
          return
        }
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

  private finalPull(terms: OrderTerms, signal: AbortSignal): void {
    const key = `final:${terms.id}`
    if (!this.o.gossip || this.inFlight.has(key)) return
    this.inFlight.add(key)
    void this.o.gossip.pullHeartbeats(terms, AbortSignal.any([signal, AbortSignal.timeout(FINAL_PULL_MS)])).catch(() => 0).finally(() => {
      this.inFlight.delete(key)
      this.finalPulled.add(terms.id)
    })
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
    // Always the stored settlement, so every signature this relayer gives is over bytes it has stored first.
    const record = await this.o.store.getOrder(id)
    if (!record?.settlement || record.state !== 'settling') return
    const chain = this.runtime(record.terms.chain)
    if (!chain) return
    const { terms } = record
    let settlement = record.settlement
    let hash = settlementHash(settlement)
    try {
      const set = await this.o.store.getRelayerSet(chain.chain)
      const needed = set?.threshold ?? this.o.threshold
      const refused = this.refusedSigners.get(id)
      const usable = async (h: string) => (await this.o.store.listSignatures(id)).filter((s) => s.settlementHash === h && (!set || set.members.includes(s.signer)) && !refused?.has(s.relayerId))
      const gossipKey = `sig:${id}`
      const gossipDue = this.o.gossip !== undefined && this.now() - (this.lastGossip.get(gossipKey) ?? 0) >= (this.o.gossipIntervalMs ?? 1_000)
      // Recompute once per gossip round from the heartbeats held now, quorum or not: gossip converges on one
      // heartbeat per slot and witness, so relayers that started from different sets end on the same bytes. A quorum
      // over an older settlement is no reason to stop: on a vault chain the co-signers rebuild the release from their
      // own settlement, and a peer that froze ours could hold the deposit for ever. Paying twice is impossible whatever
      // we store: the escrow, the Solana receipt and the Cosmos sequence each let an order pay once.
      if (gossipDue) {
        const fresh = await this.settlementOf(terms, chain)
        const freshHash = settlementHash(fresh.settlement)
        if (freshHash !== hash && (await this.o.store.transitionOrder(id, ['settling'], 'settling', fresh, this.now()))) {
          this.log.info({ orderId: id, was: hash, now: freshHash, upSlots: fresh.settlement.upSlots }, 'settlement recomputed from a converged heartbeat set')
          settlement = fresh.settlement
          hash = freshHash
        }
      }
      const mine = (await this.o.store.listSignatures(id)).find((s) => s.relayerId === this.o.relayerId)
      if (mine?.settlementHash !== hash) {
        const own = await chain.signSettlement(terms, settlement)
        await this.o.store.putSignature({ orderId: id, relayerId: this.o.relayerId, settlementHash: hash, ...own, receivedAt: this.now() })
      }
      if (this.o.gossip && gossipDue) {
        this.lastGossip.set(gossipKey, this.now())
        const current = settlement
        await this.o.gossip.pullSignatures(terms, current, (peer, sig) => chain.verifySettlementSignature(terms, current, peer, sig), signal)
      }
      const signatures = await usable(hash)
      if (!this.strategy.postsAlone) {
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
    if (err instanceof SignatureRefused) {
      // One signer's fault, not the settlement's: leave its signature out and go on with the others — but only a
      // peer's, and only one that does not check here either (the blame comes from an RPC node, which may lie).
      const culprit = (await this.o.store.listSignatures(id)).find((s) => s.signature.toLowerCase() === err.signature.toLowerCase())
      const record = await this.o.store.getOrder(id)
      const chain = record && this.runtime(record.terms.chain)
      const checks = culprit && record?.settlement && chain ? await chain.verifySettlementSignature(record.terms, record.settlement, culprit.relayerId, culprit) : true
      if (culprit && culprit.relayerId !== this.o.relayerId && !checks) {
        let refused = this.refusedSigners.get(id)
        if (!refused) this.refusedSigners.set(id, (refused = new Set()))
        refused.add(culprit.relayerId)
        await this.o.store.deleteSignature(id, culprit.relayerId)
        this.o.metrics.peerRejections.inc({ peer: culprit.relayerId, reason: 'SIGNATURE_REFUSED_ON_CHAIN' })
        this.log.warn({ orderId: id, peer: culprit.relayerId, details: err.details }, 'chain refuses a peer\'s settlement signature; settling without it')
        return
      }
    }
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

  /** Whether this relayer serves the order's token on its chain, at this amount: its settlement costs gas whatever the order is worth. */
  private tokenProblem(terms: OrderTerms): 'TOKEN_NOT_SERVED' | 'BELOW_MIN_AMOUNT' | undefined {
    const served = this.runtime(terms.chain)?.minAmounts
    if (!served) return undefined
    const min = served.get(terms.token)
    if (min === undefined) return 'TOKEN_NOT_SERVED'
    return terms.amount < min ? 'BELOW_MIN_AMOUNT' : undefined
  }

  /** This relayer's settlement of an order from the heartbeats it holds now. */
  private async settlementOf(terms: OrderTerms, chain: ChainRuntime): Promise<SettlementResult> {
    return this.strategy.compute(terms, await this.o.store.listHeartbeatKeys(terms.id), {
      threshold: this.o.threshold,
      feeBps: chain.feeRecipient ? this.o.feeBps : 0,
      feeRecipient: chain.feeRecipient,
    })
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
