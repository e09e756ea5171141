import { randomInt } from 'node:crypto'
import type { OrderTerms } from '../order.js'
import type { OfferMismatch } from '../registry/offers.js'
import type { ProbeResult } from './prober.js'

/** Tries of one slot's probe: a failed one is tried once more at another random instant if the slot has room. */
export const MAX_ATTEMPTS = 2

const OFFER_MISMATCHES: ReadonlySet<ProbeResult> = new Set<OfferMismatch>([
  'PAYOUT_NOT_OFFERED',
  'BTC_SCRIPT_NOT_OFFERED',
  'GPU_NOT_OFFERED',
  'TOKEN_NOT_OFFERED',
  'BELOW_PRICE',
])

/** The answer to a heartbeat was kept (or, for a compute challenge, is settled either way): trying again buys nothing. */
export function isFinal(result: ProbeResult): boolean {
  return (
    result === 'OK' ||
    result === 'DUPLICATE' ||
    result === 'SLOT_OVER' ||
    result.startsWith('COMPUTE_') ||
    OFFER_MISMATCHES.has(result)
  )
}

/**
 * When to probe `order`'s slot running at `nowMs`: an instant drawn at random
 * between 10% and 70% of the slot, leaving time for the answer (now, if that
 * is past); undefined outside the order's slots.
 */
export function probeInstant(
  order: OrderTerms,
  nowMs: number,
): { slot: number; slotEnd: number; at: number } | undefined {
  const slotMs = order.slotLength * 1000
  const startMs = Number(order.start) * 1000
  const slot = Math.floor((nowMs - startMs) / slotMs)
  if (slot < 0 || slot >= order.slots) return undefined
  const slotStart = startMs + slot * slotMs
  const earliest = Math.max(nowMs, slotStart + Math.floor(slotMs * 0.1))
  const latest = slotStart + Math.floor(slotMs * 0.7)
  return {
    slot,
    slotEnd: slotStart + slotMs,
    at: earliest >= latest ? nowMs : earliest + randomInt(0, latest - earliest),
  }
}
