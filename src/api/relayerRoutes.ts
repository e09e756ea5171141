import { z } from 'zod'
import type { ApiOptions, ApiRoute } from './route.js'
import { healthSchema, relayerStatusSchema } from './schemas.js'

/** The relayer's own state: liveness and readiness for supervisors, and the operator's view of it. */
export function relayerRoutes(o: ApiOptions, document: () => unknown): ApiRoute[] {
  return [
    {
      method: 'GET',
      path: '/healthz',
      pattern: /^\/healthz$/,
      tag: 'relayer',
      summary: "Readiness: running, every chain's watcher within its lag bound, the store taking writes",
      responses: {
        200: { description: 'ready', schema: healthSchema },
        503: { description: 'not ready, with why', schema: healthSchema },
      },
      async handle() {
        const health = await o.relayer.health()
        return { status: health.ready ? 200 : 503, body: health }
      },
    },
    {
      method: 'GET',
      path: '/livez',
      pattern: /^\/livez$/,
      tag: 'relayer',
      summary: "Liveness, for a supervisor's restarts: a relayer syncing a chain is alive but not ready",
      responses: {
        200: { description: 'alive', schema: z.object({ live: z.boolean() }) },
        503: { description: 'its loops have stopped', schema: z.object({ live: z.boolean() }) },
      },
      handle() {
        const live = o.relayer.live()
        return Promise.resolve({ status: live ? 200 : 503, body: { live } })
      },
    },
    {
      method: 'GET',
      path: '/v1/relayer',
      pattern: /^\/v1\/relayer$/,
      tag: 'relayer',
      summary:
        "This relayer: its peers' reachability, quorum, each chain's head, lag, pending writes and funds, its webhooks",
      responses: { 200: { description: 'the relayer', schema: relayerStatusSchema } },
      async handle() {
        return { status: 200, body: await o.relayer.status() }
      },
    },
    {
      method: 'GET',
      path: '/v1/openapi.json',
      pattern: /^\/v1\/openapi\.json$/,
      tag: 'relayer',
      summary: 'This document',
      responses: { 200: { description: 'the OpenAPI 3.1 document' } },
      handle() {
        return Promise.resolve({ status: 200, body: document() })
      },
    },
  ]
}
