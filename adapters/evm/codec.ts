import { getAddress, isAddress, zeroAddress, type Address, type Hex } from 'viem'
import { NATIVE_TOKEN, type OrderTerms } from '../../src/order.js'
import type { Settlement } from '../../src/settlement.js'

/** The escrow contract's `Order` tuple. */
export interface EvmOrder {
  renter: Address
  token: Address
  amount: bigint
  providerId: Hex
  payout: Address
  start: bigint
  slotLength: number
  slots: number
}

/** The escrow contract's `Settlement` tuple. */
export interface EvmSettlement {
  orderId: Hex
  toProvider: bigint
  toRenter: bigint
  fee: bigint
  feeRecipient: Address
  upSlots: number
  totalSlots: number
  heartbeatRoot: Hex
}

export function tokenAddress(token: string): Address {
  return token === NATIVE_TOKEN ? zeroAddress : getAddress(token)
}

export function tokenName(token: Address): string {
  return token === zeroAddress ? NATIVE_TOKEN : getAddress(token)
}

export function toEvmOrder(order: OrderTerms): EvmOrder {
  return {
    renter: getAddress(order.renter),
    token: tokenAddress(order.token),
    amount: order.amount,
    providerId: order.providerId,
    payout: getAddress(order.payout),
    start: order.start,
    slotLength: order.slotLength,
    slots: order.slots,
  }
}

export function toEvmSettlement(s: Settlement): EvmSettlement {
  return {
    orderId: s.orderId,
    toProvider: s.toProvider,
    toRenter: s.toRenter,
    fee: s.fee,
    feeRecipient: s.feeRecipient === '' ? zeroAddress : getAddress(s.feeRecipient),
    upSlots: s.upSlots,
    totalSlots: s.totalSlots,
    heartbeatRoot: s.heartbeatRoot,
  }
}

export function isEvmAddress(value: string): boolean {
  return isAddress(value, { strict: false })
}
