import { z } from 'zod'
import { QantaraError, errorMessage, isQantaraError } from '../../errors.js'
import { checkSigned } from '../../registry/registry.js'
import type { ProviderRecord } from '../../registry/record.js'
import { boundedFetch } from '../../http/boundedFetch.js'
import { redactUrl } from '../../http/redactUrl.js'

/** Relayer answers the renter reads (the provider list, one order) are capped: the relayer is someone else's server. */
export const relayerFetch = boundedFetch(8 * 1024 * 1024)
const RELAYER_TIMEOUT_MS = 10_000

/** A relayer's answer to one GET: its status and its body as JSON, not yet trusted in any way. */
export interface RelayerAnswer {
  /** The relayer as output names it: its URL with any credentials masked. */
  relayer: string
  status: number
  body: unknown
}

/** The relayer's API origin from a --relayer flag, without trailing slashes. */
export function relayerBase(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new QantaraError('CONFIG_INVALID', `--relayer ${url} is not a URL`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new QantaraError('CONFIG_INVALID', `--relayer ${redactUrl(url)} is not an http(s) URL`)
  return url.replace(/\/+$/, '')
}

/**
 * GETs `path` from a relayer: a failure to get an answer is ENDPOINT_UNREACHABLE
 * or ENDPOINT_TIMEOUT naming the relayer, a 5xx too (the relayer is there but
 * cannot answer), and an answer that is not JSON is RPC_BAD_RESPONSE. Any other
 * status comes back with its body for the caller to read.
 */
export async function relayerGet(
  relayer: string,
  path: string,
  signal?: AbortSignal,
): Promise<RelayerAnswer> {
  const base = relayerBase(relayer)
  const name = redactUrl(base)
  const timeout = AbortSignal.timeout(RELAYER_TIMEOUT_MS)
  let res: Response
  try {
    res = await relayerFetch(`${base}${path}`, {
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      headers: { accept: 'application/json' },
    })
  } catch (err) {
    if (signal?.aborted) throw new QantaraError('ABORTED', 'stopped', { cause: err })
    if (isQantaraError(err))
      throw new QantaraError(err.code, `relayer ${name}: ${err.shortMessage}`, { cause: err })
    if (timeout.aborted)
      throw new QantaraError(
        'ENDPOINT_TIMEOUT',
        `relayer ${name} gave no answer within ${RELAYER_TIMEOUT_MS} ms`,
        {
          cause: err,
          retryable: true,
        },
      )
    throw new QantaraError('ENDPOINT_UNREACHABLE', `relayer ${name} is unreachable: ${causeText(err)}`, {
      cause: err,
      retryable: true,
    })
  }
  // Busy (a rate limit, a proxy's timeout) is a relayer to ask again later, as one that is down.
  if (res.status >= 500 || res.status === 408 || res.status === 429)
    throw new QantaraError(
      'ENDPOINT_UNREACHABLE',
      `relayer ${name} answered ${path} with HTTP ${res.status}`,
      {
        retryable: true,
      },
    )
  let body: unknown
  try {
    body = await res.json()
  } catch (cause) {
    throw new QantaraError('RPC_BAD_RESPONSE', `relayer ${name} answered ${path} with something not JSON`, {
      cause,
    })
  }
  return { relayer: name, status: res.status, body }
}

/** fetch says only "fetch failed"; what failed is on its cause. */
function causeText(err: unknown): string {
  const cause = err instanceof Error ? err.cause : undefined
  return cause instanceof Error ? cause.message : errorMessage(err)
}

/** A relayer's registry holds at most this many live records: no listing needs more. */
export const MAX_PROVIDERS = 10_000
const PAGE = 1_000

const providersPage = z.object({
  providers: z.array(z.unknown()).max(PAGE),
  next: z
    .string()
    .regex(/^0x[0-9a-f]{64}$/)
    .nullish(),
})

/**
 * Up to `max` provider entries a relayer lists for `query` (its /v1/providers
 * filters), page by page, as served: nothing in them is checked yet. The
 * relayer chooses the cursors, so each must move forward or the listing stops.
 */
export async function relayerProviders(
  relayer: string,
  query: URLSearchParams,
  max: number,
  signal?: AbortSignal,
): Promise<{ relayer: string; entries: unknown[] }> {
  const entries: unknown[] = []
  let cursor: string | undefined
  let name = relayer
  while (entries.length < max) {
    const q = new URLSearchParams(query)
    q.set('limit', String(Math.min(PAGE, max - entries.length)))
    if (cursor) q.set('cursor', cursor)
    const answer = await relayerGet(relayer, `/v1/providers?${q.toString()}`, signal)
    name = answer.relayer
    if (answer.status !== 200) throw relayerRefused(answer, '/v1/providers')
    const page = providersPage.safeParse(answer.body)
    if (!page.success) throw relayerBadAnswer(answer.relayer, '/v1/providers', page.error)
    entries.push(...page.data.providers)
    const next = page.data.next
    if (next == null || page.data.providers.length === 0) break
    if (cursor !== undefined && next <= cursor)
      throw new QantaraError('RPC_BAD_RESPONSE', `relayer ${name} pages /v1/providers backwards`)
    cursor = next
  }
  return { relayer: name, entries: entries.slice(0, max) }
}

/** A relayer's 4xx: it refused what was asked, with its error word if it gave a plain one. */
export function relayerRefused(answer: RelayerAnswer, path: string): QantaraError {
  const word = (answer.body as { error?: unknown } | null)?.error
  const why = typeof word === 'string' && /^[A-Z_]{1,40}$/.test(word) ? ` ${word}` : ''
  return new QantaraError(
    'ENDPOINT_REFUSED',
    `relayer ${answer.relayer} refused ${path}: HTTP ${answer.status}${why}`,
  )
}

/** An answer that is not what the API serves: the relayer is someone else's server, and this one is not usable. */
export function relayerBadAnswer(relayer: string, path: string, error: z.ZodError): QantaraError {
  const first = error.issues[0]
  return new QantaraError(
    'RPC_BAD_RESPONSE',
    `relayer ${relayer} answered ${path} with something the API does not serve${first ? ` (${first.path.join('.') || 'body'}: ${first.message})` : ''}`,
  )
}

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
  const { entries } = await relayerProviders(relayer, new URLSearchParams(), MAX_PROVIDERS)
  const wanted = providerId.toLowerCase()
  const listed = entries.filter(
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
