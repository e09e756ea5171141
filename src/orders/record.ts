import type { OrderTerms } from '../order.js'
import type { Settlement, SettlementReason } from '../settlement.js'

/** `payout-pending`: settled on chain, the provider's share owed in BTC until a payout is proved or the fallback pays it. */
export const ORDER_STATES = [
  'opened',
  'active',
  'ended',
  'settling',
  'payout-pending',
  'settled',
  'refunded',
  'disputed',
] as const
export type OrderState = (typeof ORDER_STATES)[number]

/** What is known of one order: its terms, where the state machine (lifecycle.ts) has it, and what it recorded on the way. */
export interface OrderRecord {
  terms: OrderTerms
  state: OrderState
  /** Set once, when the order enters `settling`; never replaced by a different one. */
  settlement?: Settlement
  reason?: SettlementReason
  uptime?: string
  txHash?: string
  /** The Bitcoin payout for a BTC order: the mined transaction, its block, and what it paid the provider's script. */
  btcTxid?: string
  btcBlock?: string
  btcSats?: bigint
  /** When retention dropped its heartbeats' bodies and transcripts (ms); their keys, which prove the settlement, stay. */
  compactedAt?: number
  updatedAt: number
}

export type OrderPatch = Partial<
  Pick<OrderRecord, 'settlement' | 'reason' | 'uptime' | 'txHash' | 'btcTxid' | 'btcBlock' | 'btcSats'>
>
