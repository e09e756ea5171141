import type { OrderTerms } from '../order.js'
import type { ProviderRecord } from './record.js'
import { matchTelemetry } from '../gpu/telemetryMatch.js'

export type OfferMismatch =
  'PAYOUT_NOT_OFFERED' | 'BTC_SCRIPT_NOT_OFFERED' | 'GPU_NOT_OFFERED' | 'TOKEN_NOT_OFFERED' | 'BELOW_PRICE'

/** Addresses in hex are compared without case (EIP-55 is only a checksum); everything else exactly. */
function sameAddress(a: string, b: string): boolean {
  return /^0x[0-9a-fA-F]+$/.test(a) && /^0x[0-9a-fA-F]+$/.test(b)
    ? a.toLowerCase() === b.toLowerCase()
    : a === b
}

/**
 * Why the provider's signed record does not offer an order's terms, or
 * undefined when it does: the payout goes to the address the record gives
 * for the order's chain, a BTC payout goes to one of the record's Bitcoin
 * scripts, the record lists the GPUs the order rents, and it prices the
 * order's token, GPU class and slot length at no more than the order pays
 * per slot and GPU. A renter cannot name a provider and
 * pay its share to itself — on the escrow chain or in BTC — or pay less than
 * the provider asks.
 */
export function offerMismatch(
  record: Pick<ProviderRecord, 'payout' | 'prices' | 'btcScripts' | 'gpus'>,
  terms: Pick<OrderTerms, 'chain' | 'token' | 'payout' | 'amount' | 'slots' | 'slotLength' | 'btc' | 'gpu'>,
): OfferMismatch | undefined {
  const payout = record.payout[terms.chain]
  if (payout === undefined || !sameAddress(payout, terms.payout)) return 'PAYOUT_NOT_OFFERED'
  // The solver pays whatever script the order names; the record says which are the provider's.
  if (terms.btc && !(record.btcScripts ?? []).includes(terms.btc.script.toLowerCase()))
    return 'BTC_SCRIPT_NOT_OFFERED'
  if (matchTelemetry(terms.gpu, record.gpus).kind !== 'match') return 'GPU_NOT_OFFERED'
  const prices = record.prices.filter(
    (p) =>
      p.chain === terms.chain &&
      sameAddress(p.token, terms.token) &&
      p.slotLength === terms.slotLength &&
      p.gpuClass === terms.gpu.class,
  )
  if (prices.length === 0) return 'TOKEN_NOT_OFFERED'
  const perSlot = terms.amount / BigInt(terms.slots)
  const gpus = BigInt(terms.gpu.count)
  return prices.some((p) => BigInt(p.perSlot) * gpus <= perSlot) ? undefined : 'BELOW_PRICE'
}
