import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import { QantaraError, errorMessage, isQantaraError } from '../../errors.js'
import { checkSigned, providerMatches, type ProviderFilter } from '../../registry/registry.js'
import type { ProviderRecord } from '../../registry/record.js'
import { decimalsOption, formatAmount, parseAmount, type AmountUnit } from './amounts.js'
import { positiveInt } from './options.js'
import { printable, type CliOutput } from './output.js'
import { MAX_PROVIDERS, relayerProviders } from './relayerApi.js'

interface ListOptions {
  relayer: string
  gpu?: string
  minVram?: number
  chain?: string
  token?: string
  maxPrice?: string
  limit: number
  decimals?: number
}

/** A record the relayer served that is not shown as an offer, and why. */
export interface RefusedRecord {
  /** The provider id the record claims, when it names one in the right form. */
  providerId: string | null
  /** A RecordRejection of the registry (BAD_SIGNATURE, EXPIRED, MALFORMED, …), or NOT_ASKED_FOR, SUPERSEDED. */
  reason: string
  detail: string
}

export interface ProviderListing {
  offers: ProviderRecord[]
  refused: RefusedRecord[]
}

/**
 * Sorts what a relayer served into offers and refusals. A relayer only relays
 * records: each is shown only if its provider signed it, it has not expired,
 * and it offers what was asked for; of one provider's records only the latest.
 */
export function sortListing(entries: unknown[], filter: ProviderFilter, now: number): ProviderListing {
  const newest = new Map<string, ProviderRecord>()
  const refused: RefusedRecord[] = []
  for (const entry of entries) {
    const claimed = (entry as { record?: { providerId?: unknown } } | null)?.record?.providerId
    const providerId = typeof claimed === 'string' && /^0x[0-9a-f]{64}$/.test(claimed) ? claimed : null
    let record: ProviderRecord
    try {
      record = checkSigned(entry, now).record
    } catch (err) {
      const reason = isQantaraError(err, 'RECORD_REJECTED') ? err.context.reason : 'MALFORMED'
      const detail = isQantaraError(err) ? (err.details ?? err.shortMessage) : errorMessage(err)
      refused.push({ providerId, reason, detail })
      continue
    }
    const held = newest.get(record.providerId)
    const [kept, dropped] = held && held.seq >= record.seq ? [held, record] : [record, held]
    newest.set(record.providerId, kept)
    if (dropped)
      refused.push({
        providerId: dropped.providerId,
        reason: 'SUPERSEDED',
        detail: `seq ${dropped.seq}; seq ${kept.seq} is the provider's latest`,
      })
  }
  // The filter judges each provider's latest record only: an older, cheaper one it replaced offers nothing now.
  const offers: ProviderRecord[] = []
  for (const record of newest.values()) {
    if (providerMatches(record, filter)) offers.push(record)
    else
      refused.push({
        providerId: record.providerId,
        reason: 'NOT_ASKED_FOR',
        detail: 'listed for a filter it does not match',
      })
  }
  return { offers, refused }
}

/** `qantara providers list`: a relayer's provider records, each shown only once its provider's signature checks. */
export function registerProviderCommands(program: Command, io: CliOutput): void {
  program
    .command('providers')
    .description("find providers through a relayer's registry")
    .command('list')
    .description(
      "list the providers a relayer knows, checking each record's signature; records that do not check are listed as refused",
    )
    .requiredOption('--relayer <url>', "a relayer's API")
    .option('--gpu <class|name>', 'a GPU class (hopper-h100) or part of a GPU name')
    .option('--min-vram <MiB>', 'at least one GPU with this much memory', positiveInt)
    .option('--chain <caip2>', 'priced on this chain')
    .option('--token <token>', 'priced in this token ("native", an address, a mint or a denom)')
    .option('--max-price <units>', "at most this per GPU per slot, in the token's smallest unit")
    .option('--decimals <n>', "with --token: the token's decimals, to show prices with", decimalsOption)
    .option('--limit <n>', `list at most this many records (at most ${MAX_PROVIDERS})`, limitOption, 100)
    .action(async (o: ListOptions) => {
      const filter: ProviderFilter = {
        ...(o.gpu ? { gpu: o.gpu } : {}),
        ...(o.minVram !== undefined ? { minVramMiB: o.minVram } : {}),
        ...(o.chain ? { chain: o.chain } : {}),
        ...(o.token ? { token: o.token } : {}),
        ...(o.maxPrice !== undefined ? { maxPricePerSlot: parseAmount(o.maxPrice, '--max-price') } : {}),
      }
      if (o.decimals !== undefined && !o.token)
        throw new QantaraError(
          'CONFIG_INVALID',
          '--decimals labels the prices of one token: give --token too',
        )
      const query = new URLSearchParams()
      if (filter.gpu) query.set('gpu', filter.gpu)
      if (filter.minVramMiB !== undefined) query.set('minVramMiB', String(filter.minVramMiB))
      if (filter.chain) query.set('chain', filter.chain)
      if (filter.token) query.set('token', filter.token)
      if (filter.maxPricePerSlot !== undefined) query.set('maxPricePerSlot', String(filter.maxPricePerSlot))
      const { relayer, entries } = await relayerProviders(o.relayer, query, o.limit)
      const listing = sortListing(entries, filter, Math.floor(Date.now() / 1000))
      const unit: AmountUnit = o.decimals !== undefined ? { decimals: o.decimals } : {}
      io.result({ relayer, ...listing }, () => listingText(relayer, listing, unit, o.token))
    })
}

function limitOption(text: string): number {
  const n = positiveInt(text)
  if (n > MAX_PROVIDERS) throw new InvalidArgumentError(`at most ${MAX_PROVIDERS}`)
  return n
}

/** The listing for people. Record fields are the provider's to write, so each is shown printable only. */
export function listingText(
  relayer: string,
  { offers, refused }: ProviderListing,
  unit: AmountUnit,
  token?: string,
): string[] {
  const lines = [
    `relayer ${relayer}: ${offers.length} offer(s) with good signatures, ${refused.length} refused`,
  ]
  for (const r of offers) {
    lines.push(
      `${r.providerId}  ${printable(r.url)}  seq ${r.seq}, expires ${new Date(r.expiresAt * 1000).toISOString()}`,
    )
    const gpus = new Map<string, number>()
    for (const g of r.gpus) {
      const name = `${printable(g.name)}${g.memoryTotalMiB !== null ? ` (${g.memoryTotalMiB} MiB)` : ''}`
      gpus.set(name, (gpus.get(name) ?? 0) + 1)
    }
    for (const [name, n] of gpus) lines.push(`  gpu     ${n} × ${name}`)
    for (const p of r.prices) {
      const sameToken = token !== undefined && p.token.toLowerCase() === token.toLowerCase()
      lines.push(
        `  price   ${p.gpuClass} on ${p.chain} in ${printable(p.token)}: ${formatAmount(BigInt(p.perSlot), sameToken ? unit : {})} per GPU per ${p.slotLength} s slot`,
      )
    }
    for (const [chain, address] of Object.entries(r.payout))
      lines.push(`  payout  ${chain}: ${printable(address)}`)
    if (r.btcScripts?.length) lines.push(`  btc     scripts ${r.btcScripts.join(', ')}`)
  }
  for (const r of refused)
    lines.push(`refused ${r.providerId ?? '(no provider id)'}: ${r.reason}, ${printable(r.detail)}`)
  return lines
}
