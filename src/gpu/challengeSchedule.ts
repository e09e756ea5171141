import { createHmac } from 'node:crypto'

/**
 * The last slots of every order are always checked: telemetry after the last
 * passed check proves nothing, so the order must close on a proof (three, so
 * one lost packet or a short outage does not cost an honest provider the tail).
 */
export const CLOSING_CHECKS = 3

/**
 * Whether this relayer challenges `slot` of an order, at `perMillion` slots
 * in a million: a keyed hash of the relayer's own secret, the order and the
 * slot, so the provider cannot tell which slots will be challenged (it must
 * keep the GPU ready for all of them) while the relayer's choice is fixed and
 * its CPU cost bounded by the rate.
 */
export function isChallengedSlot(
  secret: Uint8Array,
  orderId: string,
  slot: number,
  perMillion: number,
): boolean {
  if (!Number.isInteger(perMillion) || perMillion < 0 || perMillion > 1_000_000)
    throw new RangeError(`challenge rate ${perMillion} is outside 0…1,000,000 per million`)
  if (!Number.isSafeInteger(slot) || slot < 0) throw new RangeError(`slot ${slot} is not a slot number`)
  const draw = createHmac('sha256', secret)
    .update(`qantara/challenge-slot/v1\n${orderId}\n${slot}`)
    .digest()
    .readUInt32BE(0)
  return draw < Math.floor((perMillion / 1_000_000) * 2 ** 32)
}
