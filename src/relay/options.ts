import type { Notify } from './orderNotices.js'
import type { ChainRuntime } from '../chains.js'
import type { BtcPayoutRail } from '../btcRail.js'
import type { OrderTerms } from '../order.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { Gossip } from '../peer/gossip.js'
import type { Store } from '../store/store.js'
import type { RetargetApprovals } from '../peer/retargetApprovals.js'
import type { SettlementStrategy } from './settlementStrategy.js'

/** Who this relayer is among its peers and how the quorum settles: the same on every member. */
export interface QuorumOptions {
  relayerId: string
  /** Every quorum member's id, this relayer's included. */
  members: string[]
  threshold: number
  feeBps: number
  graceSeconds: number
  /** Extra wait after end + grace for peers' heartbeats to arrive before settling. */
  gossipWindowSeconds?: number
  gossipIntervalMs?: number
  /** How long each submitter in line waits for the one before it. */
  failoverSeconds?: number
  /** How long after a vault deposit that opened no order it is refunded. */
  refundAfterSeconds?: number
  /** Takes on orders for test-only GPU classes (the dev kit's CPU reference); off on every real network. */
  acceptTestGpuClasses?: boolean
  /** The quorum's shared compute challenge schedule, when it has one: whether a slot of an order carries a challenge. */
  challengeSchedule?: (order: OrderTerms, slot: number) => boolean
}

/** What the relayer asks of whatever probes its active orders. */
export interface ProbeScheduler {
  /** Sees to it that the order's current slot is probed (once, however often asked); a throw sets the order aside. */
  schedule(order: OrderTerms, signal: AbortSignal): unknown
  /** Writes what `schedule` gathered during the tick, once at its end (a scheduler that writes as it goes has none). */
  flush?(): Promise<void>
  /** Forgets slots that have ended; called once per tick. */
  prune(): void
  drain(): Promise<void>
}

/** The relayer's parts, built at the composition root. */
export interface RelayerOptions extends QuorumOptions {
  store: Store
  chains: ChainRuntime[]
  /** Probes active orders: in process (Prober), or as jobs for the identity's workers (QueuedProbes). */
  prober: ProbeScheduler
  metrics: Metrics
  logger: Logger
  /** Absent for a relayer without peers. */
  gossip?: Gossip
  /** Where BTC payouts are seen and proved, for orders whose provider is paid in BTC. */
  btc?: BtcPayoutRail
  /** Light relay retarget approvals, shared with the peer routes that serve this relayer's own. */
  retargetApprovals?: RetargetApprovals
  /** Accepts a provider record replicated from a peer (checked against its own URL). */
  registry?: {
    submit(record: unknown, signal?: AbortSignal): Promise<unknown>
    known(providerId: string, seq: number): Promise<boolean>
  }
  /** What to sign and when to post; the honest strategy unless the dev kit plays a faulty member. */
  strategy?: SettlementStrategy
  /** Told of what Web2 systems may subscribe to (order opened, slot down, settled, payout proved); never blocks. */
  notify?: Notify
  /** Retention: how long after an order is finished its heartbeat bodies and transcripts are dropped; never when absent. */
  compactAfterMs?: number
  tickMs?: number
  nowMs?: () => number
}
