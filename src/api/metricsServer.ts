import { createServer, type Server } from 'node:http'
import { sendJson } from '../http/body.js'
import type { Registry } from 'prom-client'

/** Prometheus text at GET /metrics, on its own listener: operators scrape it; the public and the peers never see it. */
export function createMetricsServer(metrics: { registry: Registry }): Server {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics')
      return sendJson(res, 404, { error: 'NOT_FOUND' })
    metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType })
        res.end(text)
      },
      () => sendJson(res, 500, { error: 'INTERNAL' }),
    )
  })
  server.requestTimeout = 15_000
  server.headersTimeout = 5_000
  return server
}
