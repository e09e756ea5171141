import { QantaraError } from '../errors.js'
import type { Hex32 } from '../order.js'

/** A function a co-signer's check throws with: why it will not sign. */
export type Refuse = (why: string) => QantaraError

/**
 * A co-signer's refusal to sign a release (COSIGN_REFUSED). Its context's
 * reason is the reason itself unless a stable word stands for it
 * (ALREADY_RELEASED, ORDER_CLOSED). Never retryable: the same request gets
 * the same answer.
 */
export function cosignRefused(orderId: Hex32, why: string, reason = why): QantaraError {
  return new QantaraError('COSIGN_REFUSED', `release of ${orderId}: ${why}`, {
    context: { reason },
    retryable: false,
  })
}

/** The refusal of a release whose order a co-signer can tell was released already, at whatever nonce or sequence. */
export function alreadyReleased(orderId: Hex32, how = 'the order is already released'): QantaraError {
  return cosignRefused(orderId, how, 'ALREADY_RELEASED')
}
