import type { IncomingMessage, ServerResponse } from 'node:http'
import type { z } from 'zod'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { OrderTerms } from '../order.js'
import type { Settlement } from '../settlement.js'
import type { SettlementStatement } from '../chains.js'
import type { ProviderRegistry } from '../registry/registry.js'
import type { Store } from '../store/store.js'
import type { RelayerStatus } from './schemas.js'

/**
 * What the API reads of the running relayer: its readiness and why (served
 * at /healthz), its liveness (/livez), an order's slots so far, and the
 * operator's view of it (/v1/relayer).
 */
export interface RelayerView {
  health(): Promise<{ ready: boolean }>
  live(): boolean
  slotStatus(terms: OrderTerms): Promise<string | undefined>
  status(): Promise<RelayerStatus>
  /** How many of the quorum's signatures a settlement on its chain needs, and what each is over. */
  settlementContext(
    terms: OrderTerms,
    settlement: Settlement,
  ): Promise<{ threshold: number; statement?: SettlementStatement; signers?: readonly string[] }>
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
  corsOrigins?: readonly string[]
  /** Serve the dashboard at /ui/. */
  dashboard?: boolean
  logger: Logger
  now?: () => number
}

export interface RouteCall {
  req: IncomingMessage
  url: URL
  /** The path's captured parts, in order. */
  params: string[]
}

/** One route: how it is matched, what the OpenAPI document says of it, and its handler. */
export interface ApiRoute {
  method: 'GET' | 'POST'
  /** As OpenAPI writes it: `/v1/orders/{id}`. */
  path: string
  pattern: RegExp
  tag: string
  summary: string
  query?: z.ZodType
  requestBody?: z.ZodType
  responses: Record<number, { description: string; schema?: z.ZodType }>
  handle(call: RouteCall): Promise<{ status: number; body: unknown }>
}

export const HEX32_PATH = '(0x[0-9a-fA-F]{64})'
