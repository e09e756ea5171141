import type { ChainId } from './caip2.js'

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
  /** Present when the provider is paid in BTC by a solver; the payout above is then the fallback. */
  btc?: BtcPayoutTerms
}

/** The solver's quote, fixed when the order opened. */
export interface BtcPayoutTerms {
  /** The provider's Bitcoin output script, hex. */
  script: string
  /** The solver's address on the escrow chain, repaid the provider's share against a proof. */
  solver: string
  /** Satoshis per 10^18 smallest units of the order's token. */
  satsPerE18: bigint
  /** Unix seconds; unproved by then, the provider's share is paid on the escrow chain. */
  payoutDeadline: bigint
}

/** Satoshis below which a payout cannot be relayed: the escrow pays such a share on its own chain. */
export const BTC_DUST_SATS = 546n

/** What the solver owes in BTC for a provider share; the escrow rounds the same way, down. */
export function satsOwed(btc: BtcPayoutTerms, toProvider: bigint): bigint {
  return (toProvider * btc.satsPerE18) / 10n ** 18n
}

export const NATIVE_TOKEN = 'native'

export function orderEnd(order: Pick<OrderTerms, 'start' | 'slotLength' | 'slots'>): bigint {
  return order.start + BigInt(order.slotLength) * BigInt(order.slots)
}
