import { orderEnd, type OrderTerms } from '../order.js'

/**
 * Why a vault deposit whose memo reads as an order opens none, beyond the memo codec's bounds:
 * - ORDER_ALREADY_ENDED: the order ends at or before the block that holds the deposit. It could only
 *   settle at once as a no-show, a release the relayers pay for and nobody rents anything with.
 * - BELOW_MIN_ORDER: the deposit is below the chain's minimum order amount, worth less than the release
 *   that settles it costs the relayers (a Solana receipt's rent, a Cosmos release fee).
 * Security review 2026-12, M1: a 1-unit deposit with slots=1 and start=0 was an order, released at the
 * relayers' expense for about 400 times what it cost its sender.
 */
export type VaultOrderProblem = 'ORDER_ALREADY_ENDED' | 'BELOW_MIN_ORDER'

export interface VaultOrderProblemParameters {
  order: Pick<OrderTerms, 'amount' | 'start' | 'slotLength' | 'slots'>
  /** The time of the block holding the deposit, in Unix seconds, as the chain records it: the same for every relayer. */
  blockTime: bigint
  /** The least amount, in the asset's smallest unit, that opens an order on this vault chain; 0n for no minimum. */
  minOrderAmount: bigint
}

/**
 * The rule every vault chain's watcher applies to a deposit with a valid memo, from the chain's own record and
 * the chain's config alone, so every relayer decides alike. A deposit it refuses opens no order and goes down
 * the refund path (where `minRefund` leaves dust in the vault).
 */
export function vaultOrderProblem({
  order,
  blockTime,
  minOrderAmount,
}: VaultOrderProblemParameters): VaultOrderProblem | undefined {
  if (orderEnd(order) <= blockTime) return 'ORDER_ALREADY_ENDED'
  if (order.amount < minOrderAmount) return 'BELOW_MIN_ORDER'
  return undefined
}
