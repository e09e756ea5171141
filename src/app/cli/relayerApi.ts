import { QantaraError, errorMessage } from '../../errors.js'
import { checkSigned } from '../../registry/registry.js'
import type { ProviderRecord } from '../../registry/record.js'
import { boundedFetch } from '../../http/boundedFetch.js'

/** Relayer answers the renter reads (the provider list, one order) are capped: the relayer is someone else's server. */
export const relayerFetch = boundedFetch(8 * 1024 * 1024)

/**
 * The provider's own signed record that gives a payout address for `chain`,
 * as a relayer relays it. The relayer only relays the record: its signature
 * is checked here, so neither a lying relayer nor anyone on the path can send
 * the provider's share elsewhere, on `chain` or in BTC.
 */
export async function providerRecordFor(
  relayer: string,
  providerId: string,
  chain: string,
): Promise<ProviderRecord> {
  const res = await relayerFetch(`${relayer.replace(/\/+$/, '')}/v1/providers`, {
    signal: AbortSignal.timeout(10_000),
  })
  const { providers } = (await res.json()) as { providers?: unknown }
  const wanted = providerId.toLowerCase()
  const listed = (Array.isArray(providers) ? providers : []).filter(
    (p) => (p as { record?: { providerId?: unknown } } | null)?.record?.providerId === wanted,
  )
  if (listed.length === 0)
    throw new QantaraError('RECORD_REJECTED', `the relayer knows no provider ${providerId}`, {
      context: { reason: 'UNKNOWN_PROVIDER' },
    })
  const now = Math.floor(Date.now() / 1000)
  for (const entry of listed) {
    let signed
    try {
      signed = checkSigned(entry, now)
    } catch (err) {
      throw new QantaraError(
        'RECORD_REJECTED',
        `the relayer serves a record for ${providerId} that does not check: ${errorMessage(err)}`,
        { cause: err, context: { reason: 'BAD_SIGNATURE' } },
      )
    }
    if (signed.record.payout[chain]) return signed.record
  }
  throw new QantaraError(
    'RECORD_REJECTED',
    `provider ${providerId}'s record gives no payout address on ${chain}`,
    { context: { reason: 'NO_PAYOUT' } },
  )
}

/** The payout address the provider's own signed record gives for `chain`, as the record writes it. */
export async function providerPayoutText(
  relayer: string,
  providerId: string,
  chain: string,
): Promise<string> {
  return (await providerRecordFor(relayer, providerId, chain)).payout[chain]!
}
