import type { ChainId } from './caip2.js'
import { gpuRequirementProblem, type GpuRequirement, type GpuRequirementProblem } from './gpu/requirement.js'

/** 32 bytes as 0x-prefixed lowercase hex. */
export type Hex32 = `0x${string}`

/**
 * An order's terms as every chain family records them. Addresses stay in
 * their chain's native text form; amounts are in the asset's smallest unit.
 */
export interface OrderTerms {
  id: Hex32
  chain: ChainId
  renter: string
  /** Asset on the escrow chain: a token address, or `native`. */
  token: string
  amount: bigint
  /** The provider's ed25519 public key. */
  providerId: Hex32
  /** Where the provider's share is paid on the escrow chain. */
  payout: string
  /** Unix seconds of the first slot's start. */
  start: bigint
  slotLength: number
  slots: number
  /** The GPUs rented; a slot counts only when they were there (docs/PROTOCOL.md §10). */
  gpu: GpuRequirement
  /** Present when the provider is paid in BTC by a solver; the payout above is then the fallback. */
  btc?: BtcPayoutTerms
}

/**
 * The solver's quote, fixed when the order opened. The solver signed it for
 * the order's id and token; the escrow opened the order only within its bounds.
 */
export interface BtcPayoutTerms {
  /** The provider's Bitcoin output script, hex. */
  script: string
  /** The solver's address on the escrow chain, repaid the provider's share against a proof. */
  solver: string
  /** Satoshis per 10^18 smallest units of the order's token. */
  satsPerE18: bigint
  /** Unix seconds: the payout must be made by then; unproved by then plus BTC_PROOF_GRACE_SECONDS, the provider's share is paid on the escrow chain. */
  payoutDeadline: bigint
  /** The most the order may lock, in the token's smallest units. */
  maxAmount: bigint
  /** Unix seconds after which the quote opens no order. */
  openBy: bigint
  /** Unix seconds by which the order must end. */
  latestEnd: bigint
}

/** Satoshis below which a payout cannot be relayed: the escrow pays such a share on its own chain. */
export const BTC_DUST_SATS = 546n

/**
 * Seconds after the payout deadline during which a payout Bitcoin dates by the
 * deadline may still be proved; the fallback opens only after them. The EVM
 * escrow holds the same number (BTC_PROOF_GRACE).
 */
export const BTC_PROOF_GRACE_SECONDS = 6n * 3_600n

/** Unix seconds after which no payout proof is accepted and the fallback may be claimed. */
export function btcProofWindowEnd(btc: Pick<BtcPayoutTerms, 'payoutDeadline'>): bigint {
  return btc.payoutDeadline + BTC_PROOF_GRACE_SECONDS
}

/** What the solver owes in BTC for a provider share; the escrow rounds the same way, down. */
export function satsOwed(btc: BtcPayoutTerms, toProvider: bigint): bigint {
  return (toProvider * btc.satsPerE18) / 10n ** 18n
}

export const NATIVE_TOKEN = 'native'

/**
 * Bounds every chain family enforces on an order's schedule (the EVM escrow
 * on open, the vault memo codec, and the relayer before it stores an order),
 * so that what a relayer does per order — settlement, the per-slot API,
 * probing — costs at most a fixed amount whatever an attacker chooses.
 * The escrow holds the same numbers as constants; docs/PROTOCOL.md lists them.
 */
export const ORDER_LIMITS = {
  maxSlots: 100_000,
  maxSlotLength: 86_400,
  /** Seconds from the first slot's start to the last one's end. */
  maxDuration: 366 * 86_400,
} as const

export type OrderTermsProblem =
  | 'EMPTY_SCHEDULE'
  | 'TOO_MANY_SLOTS'
  | 'SLOT_TOO_LONG'
  | 'TOO_LONG'
  | 'AMOUNT_BELOW_SLOTS'
  | GpuRequirementProblem

/**
 * Why an order's terms are out of the protocol's bounds, or undefined when
 * they are within them. The amount must be at least one smallest unit per
 * slot, so every slot the provider serves is worth something.
 */
export function orderTermsProblem(
  t: Pick<OrderTerms, 'amount' | 'slotLength' | 'slots' | 'gpu'>,
): OrderTermsProblem | undefined {
  if (
    !Number.isSafeInteger(t.slots) ||
    !Number.isSafeInteger(t.slotLength) ||
    t.slots < 1 ||
    t.slotLength < 1
  )
    return 'EMPTY_SCHEDULE'
  if (t.slots > ORDER_LIMITS.maxSlots) return 'TOO_MANY_SLOTS'
  if (t.slotLength > ORDER_LIMITS.maxSlotLength) return 'SLOT_TOO_LONG'
  if (t.slots * t.slotLength > ORDER_LIMITS.maxDuration) return 'TOO_LONG'
  if (t.amount < BigInt(t.slots)) return 'AMOUNT_BELOW_SLOTS'
  // An order kept by a build from before orders named their GPUs has none.
  return (t.gpu as GpuRequirement | undefined) ? gpuRequirementProblem(t.gpu) : 'UNKNOWN_GPU_CLASS'
}

export function orderEnd(order: Pick<OrderTerms, 'start' | 'slotLength' | 'slots'>): bigint {
  return order.start + BigInt(order.slotLength) * BigInt(order.slots)
}
