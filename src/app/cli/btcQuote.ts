import { readFileSync, statSync } from 'node:fs'
import { getAddress, isAddress, zeroAddress, type Address } from 'viem'
import { z } from 'zod'
import { QantaraError } from '../../errors.js'
import { NATIVE_TOKEN } from '../../order.js'
import type { ProviderRecord } from '../../registry/record.js'

/** What `qantara solver quote` prints: the solver's signed terms for one order id. */
const btcQuoteSchema = z.strictObject({
  orderId: z.string().regex(/^0x[0-9a-f]{64}$/i),
  token: z.string().refine((v) => v === NATIVE_TOKEN || isAddress(v), 'neither native nor an address'),
  script: z.string().regex(/^([0-9a-f]{2}){1,10000}$/i),
  solver: z.string().refine((v) => isAddress(v), 'not an address'),
  satsPerE18: z.string().regex(/^[1-9][0-9]{0,30}$/),
  payoutDeadline: z.string().regex(/^[1-9][0-9]{0,15}$/),
  maxAmount: z.string().regex(/^[1-9][0-9]{0,76}$/),
  openBy: z.string().regex(/^[1-9][0-9]{0,15}$/),
  latestEnd: z.string().regex(/^[1-9][0-9]{0,15}$/),
  signature: z.string().regex(/^0x[0-9a-f]{130}$/i),
})
export type BtcQuote = z.infer<typeof btcQuoteSchema>

/** Why the escrow would refuse to open this order with `quote`, in the renter's terms; undefined when it would not. */
export function quoteProblem(
  quote: BtcQuote,
  token: Address,
  amount: bigint,
  end: bigint,
  now: bigint,
): string | undefined {
  const quoted = quote.token === NATIVE_TOKEN ? zeroAddress : getAddress(quote.token)
  if (quoted !== token) return `the quote is for token ${quote.token}: open with --token ${quote.token}`
  if (amount > BigInt(quote.maxAmount))
    return `--amount is ${amount} smallest units, above the quote's maximum of ${quote.maxAmount}`
  if (now > BigInt(quote.openBy))
    return `the quote expired at ${quote.openBy} (unix seconds): ask the solver for a new one`
  if (end > BigInt(quote.latestEnd))
    return `the order would end at ${end}, after the quote's latest end ${quote.latestEnd}`
  return undefined
}

/**
 * A BTC quote pays whatever script it names: relayers probe the order only if
 * the provider's signed record lists that script, so a quote for any other
 * (the renter's own, a typo) is refused before anything is locked.
 */
export function quoteScriptProblem(record: ProviderRecord, script: string): string | undefined {
  const listed = record.btcScripts ?? []
  if (listed.includes(script.toLowerCase())) return undefined
  return `the quote pays BTC to script ${script.toLowerCase()}, which provider ${record.providerId}'s signed record does not list (${listed.length ? `it lists ${listed.join(', ')}` : 'it lists no Bitcoin script'}): relayers would not probe the order and it would settle as a no-show; ask the solver to quote one of the provider's scripts`
}

export function readBtcQuote(path: string): BtcQuote {
  return readQuoteFile(path, btcQuoteSchema, 'a solver quote')
}

/** A solver's quote file, read as `schema` says: one short JSON line, so a file far bigger is not one. */
export function readQuoteFile<T>(path: string, schema: z.ZodType<T>, what: string): T {
  if (statSync(path).size > 64 * 1024)
    throw new QantaraError('CONFIG_INVALID', `${path} is too large to be ${what}`)
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch (cause) {
    throw new QantaraError('CONFIG_INVALID', `${path} is not JSON`, { cause })
  }
  const q = schema.safeParse(json)
  if (!q.success)
    throw new QantaraError(
      'CONFIG_INVALID',
      `${path} is not ${what}: ${q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    )
  return q.data
}

/** The BTC terms `openEvmOrder` takes from a quote, and the same as the command prints them. */
export function btcTermsOf(quote: BtcQuote) {
  return {
    script: quote.script.toLowerCase(),
    solver: getAddress(quote.solver),
    satsPerE18: quote.satsPerE18,
    payoutDeadline: quote.payoutDeadline,
    maxAmount: quote.maxAmount,
    openBy: quote.openBy,
    latestEnd: quote.latestEnd,
  }
}
