import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { isQantaraError } from '../errors.js'
import { BodyTooLarge, readBody, sendJson } from '../http/body.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import { RateLimiter } from '../agent/rateLimit.js'
import { orderEnd, type OrderTerms } from '../order.js'
import { SLOT_REASONS, type SlotStatus } from '../computeSettlement.js'
import type { ProviderRegistry, ProviderFilter } from '../registry/registry.js'
import type { Store } from '../store/store.js'

const MAX_RECORD_BODY = 64 * 1024
const MAX_PAGE = 1_000

/** `?limit=&cursor=` of a listing: limit 1-1000 (100 by default); the cursor is the last key of the page before. */
function pageOf(url: URL): { limit: number; cursor?: string } | undefined {
  const limit = url.searchParams.get('limit') ?? '100'
  const cursor = url.searchParams.get('cursor') ?? undefined
  if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_PAGE) return undefined
  if (cursor !== undefined && !/^0x[0-9a-f]{64}$/.test(cursor)) return undefined
  return { limit: Number(limit), ...(cursor !== undefined ? { cursor } : {}) }
}

/**
 * What the API reads of the running relayer: its readiness and why (served
 * at /healthz), its liveness (/livez), and an order's slots so far.
 */
export interface RelayerView {
  health(): Promise<{ ready: boolean }>
  live(): boolean
  slotStatus(terms: OrderTerms): Promise<string | undefined>
}

export interface ApiOptions {
  /** Routes under /v1/peer/; returns false for anything else. */
  peer?: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>
  store: Store
  relayer: RelayerView
  registry: ProviderRegistry
  metrics: Metrics
  /** Provider registrations (POST /v1/providers) taken per remote address. */
  registrations: { perMinute: number; burst: number }
  logger: Logger
}

/** The relayer's HTTP API: health, orders and the provider registry (metrics have their own listener). */
export function createApiServer(o: ApiOptions): Server {
  const registrations = new RateLimiter(o.registrations.perMinute / 60, o.registrations.burst)
  const server = createServer((req, res) => {
    route(o, req, res, registrations).catch((err: unknown) => {
      o.logger.error({ err, url: req.url }, 'api request failed')
      if (!res.headersSent) sendJson(res, 500, { error: 'INTERNAL' })
    })
  })
  server.requestTimeout = 15_000
  server.headersTimeout = 5_000
  return server
}

/**
 * Liveness (/livez, for a supervisor's restarts: a relayer syncing a chain is
 * alive but not ready, and must not be restarted) and readiness (/healthz).
 */
async function healthRoute(relayer: RelayerView, path: string, res: ServerResponse): Promise<boolean> {
  if (path === '/livez') {
    const live = relayer.live()
    sendJson(res, live ? 200 : 503, { live })
    return true
  }
  if (path !== '/healthz') return false
  const health = await relayer.health()
  sendJson(res, health.ready ? 200 : 503, undefined, stringifyPlain(health))
  return true
}

async function route(
  o: ApiOptions,
  req: IncomingMessage,
  res: ServerResponse,
  registrations: RateLimiter,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://relayer')
  const path = url.pathname
  if (o.peer && (await o.peer(req, res, url))) return
  if (req.method === 'GET' && (await healthRoute(o.relayer, path, res))) return
  const orderMatch = /^\/v1\/orders\/(0x[0-9a-fA-F]{64})$/.exec(path)
  if (req.method === 'GET' && orderMatch) {
    const id = orderMatch[1]!.toLowerCase()
    const record = await o.store.getOrder(id)
    if (!record) return sendJson(res, 404, { error: 'UNKNOWN_ORDER' })
    const uptime = record.uptime ?? (await o.relayer.slotStatus(record.terms))
    return sendJson(
      res,
      200,
      undefined,
      stringifyPlain({
        ...record,
        uptime,
        slots: slotSummary(uptime),
        end: orderEnd(record.terms),
        heartbeats: await o.store.countHeartbeats(id),
      }),
    )
  }
  if (req.method === 'GET' && path === '/v1/orders') {
    const page = pageOf(url)
    if (!page)
      return sendJson(res, 400, { error: 'MALFORMED', detail: 'limit is 1-1000; cursor is an order id' })
    const orders = await o.store.listOrdersPage(page.cursor, page.limit)
    return sendJson(
      res,
      200,
      undefined,
      stringifyPlain({ orders, next: orders.length === page.limit ? orders.at(-1)!.terms.id : null }),
    )
  }
  if (path === '/v1/providers') {
    if (req.method === 'GET') {
      const q = url.searchParams
      const filter: ProviderFilter = {}
      if (q.get('gpu')) filter.gpu = q.get('gpu')!
      if (q.get('minVramMiB') && /^\d+$/.test(q.get('minVramMiB')!))
        filter.minVramMiB = Number(q.get('minVramMiB'))
      if (q.get('chain')) filter.chain = q.get('chain')!
      if (q.get('token')) filter.token = q.get('token')!
      if (q.get('maxPricePerSlot') && /^\d{1,78}$/.test(q.get('maxPricePerSlot')!))
        filter.maxPricePerSlot = BigInt(q.get('maxPricePerSlot')!)
      const page = pageOf(url)
      if (!page)
        return sendJson(res, 400, { error: 'MALFORMED', detail: 'limit is 1-1000; cursor is a provider id' })
      const providers = (await o.registry.list(filter))
        .filter((p) => page.cursor === undefined || p.record.providerId > page.cursor)
        .slice(0, page.limit)
      return sendJson(res, 200, {
        providers,
        next: providers.length === page.limit ? providers.at(-1)!.record.providerId : null,
      })
    }
    if (req.method === 'POST') {
      // Each new record costs an outbound fetch and a stored row: a few per address, then 429.
      if (!registrations.take(req.socket.remoteAddress ?? 'unknown')) {
        o.metrics.recordsRejected.inc({ code: 'RATE_LIMITED' })
        return sendJson(res, 429, { error: 'RATE_LIMITED' })
      }
      let body: Buffer
      try {
        body = await readBody(req, MAX_RECORD_BODY)
      } catch (err) {
        return sendJson(res, err instanceof BodyTooLarge ? 413 : 400, {
          error: err instanceof BodyTooLarge ? 'TOO_LARGE' : 'MALFORMED',
        })
      }
      let input: unknown
      try {
        input = JSON.parse(body.toString('utf8'))
      } catch {
        o.metrics.recordsRejected.inc({ code: 'MALFORMED' })
        return sendJson(res, 400, { error: 'MALFORMED', detail: 'not JSON' })
      }
      try {
        const record = await o.registry.submit(input)
        return sendJson(res, 201, { accepted: true, providerId: record.providerId, seq: record.seq })
      } catch (err) {
        if (!isQantaraError(err, 'RECORD_REJECTED')) throw err
        o.metrics.recordsRejected.inc({ code: err.context.reason })
        return sendJson(res, 400, { error: err.context.reason, detail: err.details ?? err.shortMessage })
      }
    }
  }
  sendJson(res, 404, { error: 'NOT_FOUND' })
}

/** How many slots are in each state, by reason: what a renter reads first. */
function slotSummary(uptime: string | undefined): Record<string, number> | undefined {
  if (uptime === undefined) return undefined
  const counts: Record<string, number> = {}
  for (const c of uptime) {
    const reason = SLOT_REASONS[c as SlotStatus] ?? 'UNKNOWN'
    counts[reason] = (counts[reason] ?? 0) + 1
  }
  return counts
}

/** JSON for API clients: bigints as decimal strings. */
function stringifyPlain(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
}
