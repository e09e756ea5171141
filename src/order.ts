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
}

export const NATIVE_TOKEN = 'native'

export function orderEnd(order: Pick<OrderTerms, 'start' | 'slotLength' | 'slots'>): bigint {
  return order.start + BigInt(order.slotLength) * BigInt(order.slots)
}
