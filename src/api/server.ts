import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { sendJson } from '../http/body.js'
import { dashboardFiles } from './dashboard.js'
import { ApiError, applyCors, stringifyPlain } from './http.js'
import { openApiDocument } from './openapi.js'
import { orderRoutes } from './orderRoutes.js'
import { providerRoutes } from './providerRoutes.js'
import { relayerRoutes } from './relayerRoutes.js'
import type { ApiOptions, ApiRoute } from './route.js'

export type { ApiOptions, RelayerView } from './route.js'

export const API_VERSION = '0.1.0'

/** The relayer's HTTP API: health, orders, providers, itself, its OpenAPI document and the dashboard (metrics have their own listener). */
export function createApiServer(o: ApiOptions): Server {
  let document: unknown
  const routes: ApiRoute[] = [
    ...relayerRoutes(o, () => (document ??= openApiDocument(routes, API_VERSION))),
    ...orderRoutes(o),
    ...providerRoutes(o),
  ]
  const dashboard = o.dashboard === false ? undefined : dashboardFiles()
  const server = createServer((req, res) => {
    route(o, routes, dashboard, req, res).catch((err: unknown) => {
      if (err instanceof ApiError) {
        if (!res.headersSent)
          sendJson(res, err.status, { error: err.code, ...(err.detail ? { detail: err.detail } : {}) })
        return
      }
      o.logger.error({ err, url: req.url }, 'api request failed')
      if (!res.headersSent) sendJson(res, 500, { error: 'INTERNAL' })
    })
  })
  server.requestTimeout = 15_000
  server.headersTimeout = 5_000
  return server
}

async function route(
  o: ApiOptions,
  routes: readonly ApiRoute[],
  dashboard: ReturnType<typeof dashboardFiles> | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://relayer')
  if (o.peer && (await o.peer(req, res, url))) return
  if (dashboard && req.method === 'GET' && dashboard.serve(url.pathname, req, res)) return
  if (applyCors(req, res, o.corsOrigins ?? [])) return
  let methodMismatch = false
  for (const r of routes) {
    const match = r.pattern.exec(url.pathname)
    if (!match) continue
    if (r.method !== req.method) {
      methodMismatch = true
      continue
    }
    // Browsers send Origin with every POST, agents and the CLI never do: no page, of any origin (a rebound DNS
    // name passes any same-origin test), may write through a visitor's browser.
    if (r.method === 'POST' && req.headers.origin !== undefined)
      throw new ApiError(403, 'CROSS_ORIGIN', 'writes are not taken from web pages')
    const { status, body } = await r.handle({ req, url, params: match.slice(1) })
    return sendJson(res, status, undefined, stringifyPlain(body))
  }
  if (methodMismatch) throw new ApiError(405, 'METHOD_NOT_ALLOWED')
  throw new ApiError(404, 'NOT_FOUND', `no route ${url.pathname}; the routes are in /v1/openapi.json`)
}
