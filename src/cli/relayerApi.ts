import { QantaraError } from '../errors.js'
import { boundedFetch } from '../http/boundedFetch.js'

/** Relayer answers the renter reads (the provider list, one order) are capped: the relayer is someone else's server. */
export const relayerFetch = boundedFetch(8 * 1024 * 1024)

/** The payout address a provider's record at the relayer gives for `chain`, as the record writes it. */
export async function providerPayoutText(relayer: string, providerId: string, chain: string): Promise<string> {
  const res = await relayerFetch(`${relayer.replace(/\/+$/, '')}/v1/providers`, { signal: AbortSignal.timeout(10_000) })
  const { providers } = (await res.json()) as { providers: { record: { providerId: string; payout: Record<string, string> } }[] }
  const payout = providers.find((p) => p.record.providerId === providerId.toLowerCase())?.record.payout[chain]
  if (!payout) throw new QantaraError('RECORD_REJECTED', `the relayer knows no provider ${providerId} with a payout address on ${chain}`)
  return payout
}
