import type { IncomingMessage } from 'node:http'
import { isQantaraError } from '../errors.js'
import { BodyTooLarge, readBody } from '../http/body.js'
import { RateLimiter } from '../agent/rateLimit.js'
import type { OrderRecord } from '../orders/record.js'
import { signedProviderRecordSchema, type SignedProviderRecord } from '../registry/record.js'
import { providerMatches, type ProviderFilter } from '../registry/registry.js'
import { ApiError, parseQuery } from './http.js'
import { HEX32_PATH, type ApiOptions, type ApiRoute } from './route.js'
import { errorBody, providerDetail, providersPage, providersQuery } from './schemas.js'
import { z } from 'zod'

const MAX_RECORD_BODY = 64 * 1024
/** A provider page reads at most this many of its orders: the figures say how many they cover. */
const PROVIDER_ORDERS = 1_000
const LISTING_TTL_MS = 5_000

/** The provider registry: offers, filtered and paged; one provider's record, uptime and earnings; registration. */
export function providerRoutes(o: ApiOptions): ApiRoute[] {
  const registrations = new RateLimiter(o.registrations.perMinute / 60, o.registrations.burst)
  const now = o.now ?? Date.now
  // Reading every record parses up to the registry's bound (10,000 of up to ~10 KB): once per few seconds,
  // however many readers poll, never once per request.
  let listed: { at: number; records: Promise<SignedProviderRecord[]> } | undefined
  const live = (): Promise<SignedProviderRecord[]> => {
    if (!listed || now() - listed.at >= LISTING_TTL_MS) {
      const records = o.registry.list()
      listed = { at: now(), records }
      records.catch(() => {
        listed = undefined
      })
    }
    return listed.records
  }
  return [
    {
      method: 'GET',
      path: '/v1/providers',
      pattern: /^\/v1\/providers$/,
      tag: 'providers',
      summary: "Providers' signed records (offers), filtered by GPU, memory, chain, token and price",
      query: providersQuery,
      responses: {
        200: { description: 'a page of signed provider records', schema: providersPage },
        400: { description: 'a query out of its bounds', schema: errorBody },
      },
      async handle({ url }) {
        const q = parseQuery(providersQuery, url)
        const filter: ProviderFilter = {}
        if (q.gpu) filter.gpu = q.gpu
        if (q.minVramMiB !== undefined) filter.minVramMiB = q.minVramMiB
        if (q.chain) filter.chain = q.chain
        if (q.token) filter.token = q.token
        if (q.maxPricePerSlot !== undefined) filter.maxPricePerSlot = q.maxPricePerSlot
        const nowS = Math.floor(now() / 1000)
        const providers = (await live())
          .filter((p) => p.record.expiresAt > nowS && providerMatches(p.record, filter))
          .filter((p) => q.cursor === undefined || p.record.providerId > q.cursor)
          .sort((a, b) => (a.record.providerId < b.record.providerId ? -1 : 1))
          .slice(0, q.limit)
        const next = providers.length === q.limit ? providers.at(-1)!.record.providerId : null
        return { status: 200, body: { providers, next } }
      },
    },
    {
      method: 'GET',
      path: '/v1/providers/{id}',
      pattern: new RegExp(`^/v1/providers/${HEX32_PATH}$`),
      tag: 'providers',
      summary: "One provider: its signed record, its orders' uptime and its earnings per chain",
      responses: {
        200: { description: 'the provider', schema: providerDetail },
        404: { description: 'no live record of this provider', schema: errorBody },
      },
      async handle({ params }) {
        const id = params[0]!.toLowerCase()
        const stored = await o.store.getProvider(id)
        const provider = stored && (JSON.parse(stored.body) as SignedProviderRecord)
        if (!provider || provider.record.expiresAt <= Math.floor(now() / 1000))
          throw new ApiError(404, 'UNKNOWN_PROVIDER', `no live record of provider ${id}`)
        const orders = await o.store.listOrdersPage(undefined, PROVIDER_ORDERS, { providerId: id })
        return { status: 200, body: { provider, orders: orders.length, ...providerFigures(orders) } }
      },
    },
    {
      method: 'POST',
      path: '/v1/providers',
      pattern: /^\/v1\/providers$/,
      tag: 'providers',
      summary:
        "Registers or refreshes a provider's signed record; the relayer fetches it back from the provider's URL",
      requestBody: signedProviderRecordSchema,
      responses: {
        201: {
          description: 'accepted',
          schema: z.object({ accepted: z.literal(true), providerId: z.string(), seq: z.number() }),
        },
        400: { description: 'refused, with the reason', schema: errorBody },
        413: { description: 'over 64 KiB', schema: errorBody },
        429: { description: 'too many registrations from this address', schema: errorBody },
      },
      async handle({ req }) {
        // Each new record costs an outbound fetch and a stored row: a few per address, then 429.
        if (!registrations.take(req.socket.remoteAddress ?? 'unknown')) {
          o.metrics.recordsRejected.inc({ code: 'RATE_LIMITED' })
          throw new ApiError(429, 'RATE_LIMITED')
        }
        const input = await readJson(req, o)
        try {
          const record = await o.registry.submit(input)
          listed = undefined
          return { status: 201, body: { accepted: true, providerId: record.providerId, seq: record.seq } }
        } catch (err) {
          if (!isQantaraError(err, 'RECORD_REJECTED')) throw err
          o.metrics.recordsRejected.inc({ code: err.context.reason })
          throw new ApiError(400, err.context.reason, err.details ?? err.shortMessage)
        }
      },
    },
  ]
}

async function readJson(req: IncomingMessage, o: ApiOptions): Promise<unknown> {
  let body: Buffer
  try {
    body = await readBody(req, MAX_RECORD_BODY)
  } catch (err) {
    if (err instanceof BodyTooLarge) throw new ApiError(413, 'TOO_LARGE')
    throw new ApiError(400, 'MALFORMED', 'the body could not be read')
  }
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    o.metrics.recordsRejected.inc({ code: 'MALFORMED' })
    throw new ApiError(400, 'MALFORMED', 'not JSON')
  }
}

/** Orders by state, uptime over settled ones, and what settled orders paid the provider per chain and token. */
function providerFigures(orders: readonly OrderRecord[]) {
  const byState: Record<string, number> = {}
  const uptime = { upSlots: 0, totalSlots: 0 }
  const earned = new Map<string, { chain: string; token: string; toProvider: bigint; orders: number }>()
  for (const r of orders) {
    byState[r.state] = (byState[r.state] ?? 0) + 1
    if (!r.settlement || (r.state !== 'settled' && r.state !== 'payout-pending')) continue
    uptime.upSlots += r.settlement.upSlots
    uptime.totalSlots += r.settlement.totalSlots
    const key = `${r.terms.chain} ${r.terms.token}`
    const e = earned.get(key) ?? { chain: r.terms.chain, token: r.terms.token, toProvider: 0n, orders: 0 }
    e.toProvider += r.settlement.toProvider
    e.orders += 1
    earned.set(key, e)
  }
  return { byState, uptime, earnings: [...earned.values()] }
}
