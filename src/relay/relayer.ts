import { abortableDelay } from '../abort.js'
import type { ChainEvent, ChainRuntime, WatchResult } from '../chains.js'
import { computeSettlement } from '../computeSettlement.js'
import { errorMessage, isQantaraError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import { orderEnd } from '../order.js'
import { ORDER_STATES, type OrderRecord, type Store } from '../store/store.js'
import { runWatchLoop } from '../watchLoop.js'
import type { Prober } from './prober.js'

export interface RelayerOptions {
  relayerId: string
  threshold: number
  feeBps: number
  graceSeconds: number
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
  private readonly now: () => number
  private readonly log: Logger
  private lastGauge = 0

  constructor(private readonly o: RelayerOptions) {
    this.now = o.nowMs ?? Date.now
    this.log = o.logger.child({ module: 'relayer' })
    for (const c of o.chains) this.status.set(c.chain, {})
  }

  async run(signal: AbortSignal): Promise<void> {
    const watchers = this.o.chains.map((c) =>
      runWatchLoop(c.watcher, { store: this.o.store, logger: this.o.logger, intervalMs: c.pollIntervalMs, onProgress: (r) => this.progress(c, r) }, signal).catch((err: unknown) => {
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
    await Promise.all([...watchers, ticker])
    await this.o.prober.drain()
  }

  private progress(c: ChainRuntime, r: WatchResult): void {
    this.status.set(c.chain, { head: r.head, lag: r.lag, checkpoint: r.checkpoint.height })
    this.o.metrics.chainHead.set({ chain: c.chain }, Number(r.head))
    this.o.metrics.chainLag.set({ chain: c.chain }, Number(r.lag))
  }

  /** One pass: apply new chain events, then advance every live order by the clock. */
  async tick(signal: AbortSignal): Promise<void> {
    await this.applyEvents()
    const nowS = this.now() / 1000
    for (const record of await this.o.store.listOrders(LIVE)) {
      if (signal.aborted) return
      await this.advance(record, nowS, signal)
    }
    this.o.prober.prune()
    if (this.now() - this.lastGauge > 5_000) await this.updateGauges()
  }

  private async applyEvents(): Promise<void> {
    for (;;) {
      const after = await this.o.store.getCursor(EVENTS_CURSOR)
      const batch = await this.o.store.listEvents({ afterSeq: after, limit: 500 })
      if (batch.length === 0) return
      for (const { event } of batch) await this.apply(event)
      await this.o.store.setCursor(EVENTS_CURSOR, batch.at(-1)!.seq)
    }
  }

  private async apply(e: ChainEvent): Promise<void> {
    const now = this.now()
    switch (e.kind) {
      case 'OrderOpened':
        if (await this.o.store.insertOrder(e.order, now)) this.log.info({ orderId: e.order.id, chain: e.chain, amount: e.order.amount.toString() }, 'order opened')
        return
      case 'OrderSettled': {
        const mine = await this.o.store.getOrder(e.orderId)
        if (mine?.settlement && (mine.settlement.toProvider !== e.settlement.toProvider || mine.settlement.toRenter !== e.settlement.toRenter)) {
          this.log.warn({ orderId: e.orderId, ours: mine.settlement, onChain: e.settlement }, 'order settled on chain with a split that differs from ours')
        }
        await this.o.store.transitionOrder(e.orderId, LIVE, 'settled', { txHash: e.txHash }, now)
        return
      }
      case 'OrderReclaimed':
        await this.o.store.transitionOrder(e.orderId, LIVE, 'refunded', { txHash: e.txHash }, now)
        return
      case 'RelayerSetUpdated':
        this.log.info({ chain: e.chain, version: e.version.toString(), members: e.members, threshold: e.threshold }, 'relayer set updated')
        return
    }
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
    if ((state === 'opened' || state === 'active') && nowS >= end && (await this.o.store.transitionOrder(id, ['opened', 'active'], 'ended', {}, now))) state = 'ended'
    if (state === 'ended' && nowS >= end + this.o.graceSeconds) {
      const chain = this.runtime(terms.chain)
      if (!chain) return
      const heartbeats = await this.o.store.listHeartbeats(id)
      const { settlement, reason, uptime } = computeSettlement(terms, heartbeats.map((h) => ({ orderId: h.orderId, slot: h.slot, relayerId: h.relayerId, leaf: Buffer.from(h.body) })), {
        threshold: this.o.threshold,
        feeBps: chain.feeRecipient ? this.o.feeBps : 0,
        feeRecipient: chain.feeRecipient,
      })
      if (await this.o.store.transitionOrder(id, ['ended'], 'settling', { settlement, reason, uptime }, now)) {
        this.log.info({ orderId: id, reason, uptime, toProvider: settlement.toProvider.toString(), toRenter: settlement.toRenter.toString() }, 'settlement computed')
        state = 'settling'
      }
    }
    if (state === 'settling') this.submit(id, signal)
  }

  private submit(id: string, signal: AbortSignal): void {
    if (this.inFlight.has(id) || (this.retryAt.get(id) ?? 0) > this.now()) return
    this.inFlight.add(id)
    void this.submitOnce(id, signal).finally(() => this.inFlight.delete(id))
  }

  private async submitOnce(id: string, signal: AbortSignal): Promise<void> {
    // Always the stored settlement: computed once, so every signature over this order is over the same bytes.
    const record = await this.o.store.getOrder(id)
    if (!record?.settlement || record.state !== 'settling') return
    const chain = this.runtime(record.terms.chain)
    if (!chain) return
    const started = this.now()
    this.o.metrics.settlementsSubmitted.inc({ chain: chain.chain })
    try {
      const signature = await chain.signSettlement(record.terms, record.settlement)
      const outcome = await chain.submitSettlement(record.terms, record.settlement, [signature], signal)
      const txHash = outcome.status === 'submitted' ? outcome.txHash : undefined
      await this.o.store.transitionOrder(id, ['settling'], 'settled', txHash ? { txHash } : {}, this.now())
      this.o.metrics.settlementsConfirmed.inc({ chain: chain.chain, outcome: outcome.status })
      this.o.metrics.submitLatency.observe({ chain: chain.chain }, (this.now() - started) / 1000)
      this.log.info({ orderId: id, chain: chain.chain, outcome: outcome.status, txHash }, 'settlement final')
    } catch (err) {
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
      const failures = (this.failures.get(id) ?? 0) + 1
      this.failures.set(id, failures)
      this.retryAt.set(id, this.now() + Math.min(60_000, 500 * 2 ** failures))
      this.log.warn({ orderId: id, err: errorMessage(err) }, 'settlement submit failed; will retry')
    }
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
