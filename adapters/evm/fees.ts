/** EIP-1559 fee policy for settlement transactions, in one place. */

export interface Fees {
  maxFeePerGas: bigint
  maxPriorityFeePerGas: bigint
}

export interface FeeCaps {
  maxFeePerGas: bigint
  maxPriorityFeePerGas: bigint
}

/** Replacement step: nodes refuse a replacement under +10% (geth's txpool.pricebump); 12.5% leaves room for rounding. */
const BUMP_NUM = 1125n
const BUMP_DEN = 1000n

const min = (a: bigint, b: bigint) => (a < b ? a : b)
const max = (a: bigint, b: bigint) => (a > b ? a : b)
const bumped = (v: bigint) => (v * BUMP_NUM + BUMP_DEN - 1n) / BUMP_DEN

/** First fees for a transaction: room for the base fee to double, never above the caps. */
export function initialFees(baseFee: bigint, suggestedPriority: bigint, caps: FeeCaps): Fees {
  const maxFeePerGas = min(
    caps.maxFeePerGas,
    baseFee * 2n + min(suggestedPriority, caps.maxPriorityFeePerGas),
  )
  return {
    maxFeePerGas,
    maxPriorityFeePerGas: min(min(suggestedPriority, caps.maxPriorityFeePerGas), maxFeePerGas),
  }
}

/**
 * Fees for the replacement of a stuck transaction: +12.5% on both fields, or
 * what the network asks now if that is more, capped. Returns undefined when
 * the caps leave no valid replacement: the caller rebroadcasts instead.
 */
export function bumpFees(
  prev: Fees,
  baseFee: bigint,
  suggestedPriority: bigint,
  caps: FeeCaps,
): Fees | undefined {
  const priority = min(caps.maxPriorityFeePerGas, max(bumped(prev.maxPriorityFeePerGas), suggestedPriority))
  const maxFee = min(caps.maxFeePerGas, max(bumped(prev.maxFeePerGas), baseFee * 2n + priority))
  const next = { maxFeePerGas: maxFee, maxPriorityFeePerGas: min(priority, maxFee) }
  const acceptable =
    next.maxFeePerGas * BUMP_DEN >= prev.maxFeePerGas * 1100n &&
    next.maxPriorityFeePerGas * BUMP_DEN >= prev.maxPriorityFeePerGas * 1100n
  return acceptable ? next : undefined
}
