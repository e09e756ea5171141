import { ORDER_LIMITS, type OrderTerms } from './order.js'
import type { Settlement, SettlementReason } from './settlement.js'
import { merkleRootOfLeafHashes } from './merkle.js'

/** The facts of one verified heartbeat that settlement depends on. */
export interface HeartbeatFact {
  orderId: string
  slot: number
  relayerId: string
  /** `merkleLeafHash` of the heartbeat's canonical signed bytes, committed by the Merkle root. */
  leafHash: string
}

export interface SettlementPolicy {
  /** Distinct relayers that must hold a heartbeat for a slot to count as up. */
  threshold: number
  /** Relayer fee, in basis points of the provider's gross share. */
  feeBps: number
  feeRecipient: string
}

export interface SettlementResult {
  settlement: Settlement
  reason: SettlementReason
  /** One character per slot: '1' up, '0' down. */
  uptime: string
}

const BPS = 10_000n

/**
 * The settlement of an order, as a pure function of its terms and heartbeats,
 * in integer arithmetic. The provider's gross share is amount × upSlots /
 * totalSlots rounded down (the remainder goes to the renter); the relayer fee
 * is taken from that share, rounded down. Heartbeats for other orders or
 * out-of-range slots are ignored, so every honest relayer holding the same set
 * signs the same bytes.
 */
export function computeSettlement(
  order: Pick<OrderTerms, 'id' | 'amount' | 'slots'>,
  heartbeats: HeartbeatFact[],
  policy: SettlementPolicy,
): SettlementResult {
  if (policy.threshold < 1) throw new RangeError('threshold must be at least 1')
  if (!Number.isSafeInteger(order.slots) || order.slots < 1 || order.slots > ORDER_LIMITS.maxSlots)
    throw new RangeError(`an order of ${order.slots} slots is out of the protocol's bounds`)
  if (policy.feeBps < 0 || policy.feeBps > 10_000 || !Number.isInteger(policy.feeBps))
    throw new RangeError('feeBps must be an integer in 0..10000')
  const relevant = heartbeats.filter(
    (h) => h.orderId === order.id && Number.isInteger(h.slot) && h.slot >= 0 && h.slot < order.slots,
  )
  const relayersBySlot = new Map<number, Set<string>>()
  for (const h of relevant) {
    let set = relayersBySlot.get(h.slot)
    if (!set) relayersBySlot.set(h.slot, (set = new Set()))
    set.add(h.relayerId)
  }
  // Work follows the heartbeats held, not the slot count; the bitmap is one allocation of the (bounded) slot count.
  const bitmap = Buffer.alloc(order.slots, '0')
  let up = 0
  for (const [slot, relayers] of relayersBySlot) {
    if (relayers.size < policy.threshold) continue
    bitmap[slot] = 0x31
    up++
  }
  const uptime = bitmap.toString('latin1')
  const gross = (order.amount * BigInt(up)) / BigInt(order.slots)
  const fee = (gross * BigInt(policy.feeBps)) / BPS
  const settlement: Settlement = {
    orderId: order.id,
    toProvider: gross - fee,
    toRenter: order.amount - gross,
    fee,
    feeRecipient: fee > 0n ? policy.feeRecipient : '',
    upSlots: up,
    totalSlots: order.slots,
    heartbeatRoot: merkleRootOfLeafHashes(relevant.map((h) => h.leafHash)),
  }
  return { settlement, reason: reasonOf(settlement), uptime }
}

/** Why a settlement pays what it does, from its slot counts alone. */
export function reasonOf(s: Pick<Settlement, 'upSlots' | 'totalSlots'>): SettlementReason {
  return s.upSlots === s.totalSlots ? 'FULL' : s.upSlots === 0 ? 'NO_SHOW' : 'PARTIAL_DOWNTIME'
}
