import { createHash } from 'node:crypto'
import type { ChainEvent } from '../chains.js'
import type { Hex32, OrderTerms } from '../order.js'

/**
 * No provider: a refund order is served by nobody, so it settles as a no-show, everything to its renter, no fee.
 * 0xff…ff is no ed25519 public key: its y, 2^255 − 1, is not below the field prime, so it is not a canonical
 * encoding. No signature verifies under it and the registry refuses a record for it, so nobody can answer a
 * refund order's probes. (It was 0x00…00, a key of order 4 under which anyone forges about one signature in
 * four: security review 2026-12, section 13.)
 */
export const NO_PROVIDER: Hex32 = `0x${'ff'.repeat(32)}`

/**
 * The order that refunds a vault deposit which opened none: the sender gets
 * the amount the vault gained back, through the same quorum settlement and
 * co-signed release as any order, once `refundAfterSeconds` have passed.
 * Every relayer derives the same id and terms from the chain's record.
 */
export function refundOrder(
  e: Extract<ChainEvent, { kind: 'VaultDepositIgnored' }>,
  nowS: bigint,
  refundAfterSeconds: number,
): OrderTerms | undefined {
  if (!e.sender || e.amount <= 0n) return undefined
  return {
    id: refundOrderId(e.chain, e.txHash),
    chain: e.chain,
    renter: e.sender,
    token: e.token,
    amount: e.amount,
    providerId: NO_PROVIDER,
    payout: e.sender,
    start: nowS,
    slotLength: refundAfterSeconds,
    slots: 1,
    // Nobody serves a refund and nobody probes it: it names the class nobody's production GPU reports.
    gpu: REFUND_GPU,
  }
}

const REFUND_GPU = { class: 'cpu-reference', count: 1, minVramMiB: 0 }

/** Whether an order refunds a deposit (made by `refundOrder`), counting those made while NO_PROVIDER was 0x00…00. */
export function isRefundOrder(order: Pick<OrderTerms, 'providerId'>): boolean {
  return order.providerId === NO_PROVIDER || order.providerId === `0x${'00'.repeat(32)}`
}

/** The refund order's id: one per ignored deposit transaction. */
export function refundOrderId(chain: string, txHash: string): Hex32 {
  return `0x${createHash('sha256').update('qantara/vault-refund/v1').update(Buffer.of(chain.length)).update(chain).update(txHash).digest('hex')}`
}
