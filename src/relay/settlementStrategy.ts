import {
  computeSettlement,
  type HeartbeatFact,
  type SettlementPolicy,
  type SettlementResult,
} from '../computeSettlement.js'
import type { OrderTerms } from '../order.js'

/**
 * How a relayer arrives at what it signs and when it posts. Production runs
 * the honest strategy only; the dev kit wraps it to play a byzantine member
 * (devkit/faults), which is how the quorum's defences are tested.
 */
export interface SettlementStrategy {
  /** This relayer's settlement of an order from the heartbeats it holds. */
  compute(order: OrderTerms, heartbeats: HeartbeatFact[], policy: SettlementPolicy): SettlementResult
  /** Post with whatever signatures are held, without waiting for a quorum or a turn. */
  readonly postsAlone: boolean
}

export const honestStrategy: SettlementStrategy = { compute: computeSettlement, postsAlone: false }
