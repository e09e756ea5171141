import type { Hex32 } from './order.js'

/** Why an order settled the way it did. */
export type SettlementReason = 'FULL' | 'PARTIAL_DOWNTIME' | 'NO_SHOW'

/**
 * The outcome every honest relayer computes identically for one order; the
 * fields here are exactly what the escrow chain is asked to enforce.
 */
export interface Settlement {
  orderId: Hex32
  toProvider: bigint
  toRenter: bigint
  fee: bigint
  /** Chain-native address paid the relayer fee. */
  feeRecipient: string
  upSlots: number
  totalSlots: number
  /** Merkle root committing the heartbeat set the settlement was computed from. */
  heartbeatRoot: Hex32
}
