import { orderTermsProblem, type OrderTerms } from '../order.js'
import { abortableDelay } from '../abort.js'
import type { ChainId } from '../caip2.js'
import type { WatchResult } from '../chains.js'
import { errorMessage } from '../errors.js'
import { consumeEvents } from '../orders/eventFeed.js'
import type { OrderDue } from '../store/store.js'
import { runWatchLoop } from '../watchLoop.js'
import { BtcPayouts } from './btcPayouts.js'
import { ChainEvents } from './chainEvents.js'
import { applyTransition, type RelayerContext } from './context.js'
import { Housekeeping } from './housekeeping.js'
import { LifecycleDriver } from './lifecycleDriver.js'
import type { RelayerOptions } from './options.js'
import { OrderIntake } from './orderIntake.js'
import { PeerSync } from './peerSync.js'
import { RelayFeeder } from './relayFeeder.js'
import { RetargetApprovals } from '../peer/retargetApprovals.js'
import { Settler } from './settler.js'
import { TaskRunner } from './tasks.js'
import { chainReadiness, type ChainStatus, type RelayerHealth } from './health.js'

export type { RelayerOptions } from './options.js'

export type { ChainStatus, RelayerHealth } from './health.js'

const EVENTS_CURSOR = 'relay:events'
/**
 * Most orders one tick advances, the longest due first. A full page of
 * orders that moved on means more are due, and the next tick starts at once:
 * a backlog (the start-up, when every live order is due) is worked through in
 * bounded pages instead of one read of all of it.
 */
const DUE_PER_TICK = 1_000

/**
 * The relayer's loops: watchers feed finalised events into the store; a
 * ticker applies them, then moves each live order that is due by the clock through its
 * parts (see docs/ARCHITECTURE.md); a feeder keeps the escrows' light relays
 * on Bitcoin's epoch. `run` returns once all of them, and every background
 * task they started, have stopped.
 */
export class Relayer {
  readonly status = new Map<string, ChainStatus>()
  private readonly ctx: RelayerContext
  private readonly tasks: TaskRunner
  private readonly peers: PeerSync
  private readonly settler: Settler
  private readonly events: ChainEvents
  private readonly driver: LifecycleDriver
  private readonly housekeeping: Housekeeping

  constructor(private readonly o: RelayerOptions) {
    const now = o.nowMs ?? Date.now
    this.tasks = new TaskRunner(now)
    const runtimes = new Map(o.chains.map((c) => [c.chain, c]))
    const log = o.logger.child({ module: 'relayer' })
    const notices = o.notify && { notify: o.notify, log }
    this.ctx = {
      options: o,
      store: o.store,
      metrics: o.metrics,
      log,
      tasks: this.tasks,
      now,
      turns: { relayerId: o.relayerId, members: o.members, failoverSeconds: o.failoverSeconds ?? 10 },
      runtime: (chain) => runtimes.get(chain as ChainId),
      transition: (orderId, t) =>
        applyTransition(o.store, orderId, t, now(), (id) => this.forget(id), notices),
    }
    this.peers = new PeerSync(this.ctx)
    this.housekeeping = new Housekeeping(this.ctx)
    this.settler = new Settler(this.ctx)
    const btc = new BtcPayouts(this.ctx, o.btc, () => this.bitcoinCaughtUp())
    this.events = new ChainEvents(this.ctx, new OrderIntake(this.ctx), this.settler, btc)
    const policy = { graceSeconds: o.graceSeconds, gossipWindowSeconds: o.gossipWindowSeconds ?? 0 }
    this.driver = new LifecycleDriver(this.ctx, policy, {
      prober: o.prober,
      peers: this.peers,
      settler: this.settler,
      btc,
    })
    for (const c of o.chains) this.status.set(c.chain, {})
    if (o.btc) this.status.set(o.btc.chain, {})
  }

  /** Whether `run` is running (a standby process of a shared store has not started it). */
  private running = false
  /** When the tick loop last finished a pass, by the wall clock. */
  private lastTickAt = Date.now()
  /** The store's last write check, shared by the health requests of a second: an unauthenticated GET is not a write each. */
  private writable?: { at: number; ok: Promise<boolean> }

  /**
   * Liveness, apart from readiness: false only when the tick loop has made no pass for five minutes (a blocked event
   * loop, a call that never returns: a restart mends it; a long backlog of events may take minutes). A relayer
   * catching up on a chain, or a standby waiting for the leader lease, is live and not ready.
   */
  live(): boolean {
    return !this.running || Date.now() - this.lastTickAt < Math.max(300_000, 40 * (this.o.tickMs ?? 250))
  }

  async run(signal: AbortSignal): Promise<void> {
    this.running = true
    this.lastTickAt = Date.now()
    // From the start, so an alert on their age fires for a relayer that never makes a pass or reads a chain.
    this.o.metrics.tickAt.set(this.lastTickAt / 1000)
    for (const chain of this.status.keys())
      this.o.metrics.chainProgressAt.set({ chain }, this.lastTickAt / 1000)
    try {
      await this.runLoops(signal)
    } finally {
      this.running = false
    }
  }

  private async runLoops(signal: AbortSignal): Promise<void> {
    // What was armed for the slots running now (probe timers, turns) was in memory: every live order is looked at again.
    await this.o.store.makeLiveOrdersDue().catch((err: unknown) => {
      this.ctx.log.warn(
        { err },
        'could not make live orders due after starting; each is looked at when next due',
      )
    })
    const { btc } = this.o
    const watched = this.o.chains.map((c) => ({
      chain: c.chain,
      watcher: c.watcher,
      intervalMs: c.pollIntervalMs,
    }))
    if (btc) watched.push({ chain: btc.chain, watcher: btc.watcher, intervalMs: btc.pollIntervalMs })
    const watchers = watched.map((c) =>
      runWatchLoop(
        c.watcher,
        {
          store: this.o.store,
          logger: this.o.logger,
          intervalMs: c.intervalMs,
          onProgress: (r) => this.progress(c.chain, r),
        },
        signal,
      ).catch((err: unknown) => {
        this.status.set(c.chain, { ...this.status.get(c.chain), stopped: errorMessage(err) })
        this.o.metrics.watcherUp.set({ chain: c.chain }, 0)
      }),
    )
    for (const c of watched) this.o.metrics.watcherUp.set({ chain: c.chain }, 1)
    const ticker = this.every(this.o.tickMs ?? 250, signal, async () => {
      const more = await this.tick(signal).catch((err: unknown) => {
        this.ctx.log.error({ err }, 'tick failed')
        return false
      })
      this.lastTickAt = Date.now()
      this.o.metrics.tickAt.set(this.lastTickAt / 1000)
      return more
    })
    await Promise.all([...watchers, ticker, this.feedRelays(signal)])
    await this.tasks.drain()
    await this.o.prober.drain()
  }

  /**
   * One pass: apply new chain events, then advance the orders that are due (see `nextLook`) by the clock. True when
   * it read a full page of due orders: more may be due now.
   */
  async tick(signal: AbortSignal): Promise<boolean> {
    await consumeEvents(
      this.o.store,
      EVENTS_CURSOR,
      (e) => this.events.apply(e),
      (e, err) => {
        this.o.metrics.orderFailures.inc({ step: 'event' })
        this.ctx.log.error(
          { chain: e.chain, kind: e.kind, key: e.key, err },
          'chain event could not be applied; skipped',
        )
      },
    )
    const nowMs = this.ctx.now()
    const nowS = nowMs / 1000
    const dues: OrderDue[] = []
    const due = await this.o.store.listDueOrders(nowMs, DUE_PER_TICK)
    for (const record of due) {
      if (signal.aborted) break
      const key = { kind: 'advance', order: record.terms.id } as const
      if (!this.tasks.ready(key)) continue
      const id = record.terms.id
      // One order that throws (bad terms from an old store, a bug, a store hiccup) is set aside for a while; the others go on.
      await this.tasks
        .runInline(key, () => this.driver.advance(record, nowS, signal))
        .then((next) => dues.push({ id, state: next.state, dueMs: next.due }))
        .catch((err: unknown) => {
          this.o.metrics.orderFailures.inc({ step: 'advance' })
          this.ctx.log.error(
            { orderId: id, state: record.state, err },
            'advancing order failed; skipping it for now',
          )
          dues.push({ id, state: record.state, dueMs: this.tasks.readyAt(key) })
        })
    }
    // What the tick started is written once, at its end: probe jobs first, then when each order is next due. If either
    // fails, the orders are still due and the next tick advances them again (each step is idempotent).
    await this.o.prober.flush?.()
    await this.o.store.setOrderDues(dues)
    if (signal.aborted) return false
    this.o.prober.prune()
    this.peers.feed(signal)
    this.peers.providers(signal)
    this.housekeeping.compact(signal)
    this.housekeeping.funds(this.o.chains)
    await this.housekeeping.gauges()
    // A full page of which most moved on is a backlog being worked through; orders that stay due (settling, waiting on
    // a peer or a chain) wait for the next tick, or they would spin it.
    const movedOn = dues.filter((d) => d.dueMs === null || d.dueMs > nowMs).length
    return due.length === DUE_PER_TICK && movedOn * 2 >= due.length
  }

  /** What became of each slot of an order so far, by this relayer's records (a settled order stores its own). */
  async slotStatus(terms: OrderTerms): Promise<string | undefined> {
    const chain = this.o.chains.find((c) => c.chain === terms.chain)
    // An order out of the protocol's bounds (kept by an older build) has no per-slot view: its size is an attacker's number.
    if (!chain || orderTermsProblem(terms)) return undefined
    return (await this.settler.settlementOf(terms, chain)).uptime
  }

  /** Ready while it runs (leads), every watcher within its lag bound of the head and the store taking writes. */
  async health(): Promise<RelayerHealth> {
    const now = Date.now()
    if (!this.writable || now - this.writable.at >= 1_000)
      this.writable = { at: now, ok: this.o.store.isWritable() }
    const store = await this.writable.ok
    const chains = chainReadiness(this.status, this.o.chains, this.o.btc)
    // Watchers' last reads stay in `status` once their loops stop: only a running relayer is ready.
    return {
      ready: this.running && store && Object.values(chains).every((c) => c.ready),
      running: this.running,
      chains,
      store,
    }
  }

  /** Keeps the escrow chains' light relays on Bitcoin's epoch, where BTC payouts are proved. */
  private async feedRelays(signal: AbortSignal): Promise<void> {
    const rail = this.o.btc
    if (!rail || !this.o.chains.some((c) => c.kind === 'escrow' && c.btcPayouts)) return
    const feeder = new RelayFeeder({
      relayerId: this.o.relayerId,
      members: this.o.members,
      threshold: this.o.threshold,
      rail,
      chains: this.o.chains,
      store: this.o.store,
      approvals: this.o.retargetApprovals ?? new RetargetApprovals(),
      ...(this.o.gossip ? { gossip: this.o.gossip } : {}),
      failoverSeconds: this.ctx.turns.failoverSeconds,
      logger: this.o.logger,
      nowMs: this.ctx.now,
    })
    await this.every(rail.pollIntervalMs, signal, () => feeder.tick(signal))
  }

  /** Runs `pass` every `intervalMs`; at once again (after other callbacks have had their turn) when it returns true. */
  private async every(
    intervalMs: number,
    signal: AbortSignal,
    pass: () => Promise<boolean | void>,
  ): Promise<void> {
    while (!signal.aborted) {
      const more = await pass()
      if (more) await new Promise((resolve) => setImmediate(resolve))
      else await abortableDelay(intervalMs, signal).catch(() => undefined)
    }
  }

  /** Only a Bitcoin watcher read up to its head can tell that no payout was made; one behind might be about to see it. */
  bitcoinCaughtUp(): boolean {
    const rail = this.o.btc
    const read = rail && this.status.get(rail.chain)
    return (
      read !== undefined && read.lag !== undefined && !read.stopped && read.lag <= BigInt(rail!.confirmations)
    )
  }

  private progress(chain: string, r: WatchResult): void {
    this.status.set(chain, { head: r.head, lag: r.lag, checkpoint: r.checkpoint.height })
    this.o.metrics.chainHead.set({ chain }, Number(r.head))
    this.o.metrics.chainLag.set({ chain }, Number(r.lag))
    this.o.metrics.chainProgressAt.set({ chain }, Date.now() / 1000)
  }

  /** Drops the in-memory bookkeeping of an order that reached a final state. */
  private forget(orderId: string): void {
    this.tasks.forget(orderId)
    this.settler.forget(orderId)
    this.peers.forget(orderId)
  }
}
