import type { IncomingMessage, ServerResponse } from 'node:http'
import type { z } from 'zod'

/** A refusal with its HTTP status and stable code; every error body is `{ error, detail? }`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail?: string,
  ) {
    super(detail ?? code)
  }
}

/** JSON for API clients: bigints as decimal strings. */
export function stringifyPlain(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
}

/** Parses a route's query string with its schema; a query that does not parse is a 400 naming the first bad field. */
export function parseQuery<S extends z.ZodType>(schema: S, url: URL): z.output<S> {
  const parsed = schema.safeParse(Object.fromEntries(url.searchParams))
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]!
  const field = issue.path.join('.') || 'query'
  throw new ApiError(
    400,
    'MALFORMED',
    issue.code === 'unrecognized_keys'
      ? `unknown query ${issue.keys.join(', ')}`
      : `${field}: ${issue.message}`,
  )
}

/**
 * CORS for the read-only API: an allowed origin is echoed (browsers then let
 * its pages read the answer); no credentials are ever allowed, and a write is
 * never allowed cross-origin, so a page elsewhere cannot register a provider
 * with a visitor's network position.
 */
export function applyCors(req: IncomingMessage, res: ServerResponse, origins: readonly string[]): boolean {
  const origin = req.headers.origin
  if (!origin || origins.length === 0) return false
  const allowed = origins.includes('*') ? '*' : origins.includes(origin) ? origin : undefined
  if (!allowed) return false
  res.setHeader('access-control-allow-origin', allowed)
  if (allowed !== '*') res.setHeader('vary', 'Origin')
  if (req.method === 'OPTIONS') {
    res.setHeader('access-control-allow-methods', 'GET')
    res.setHeader('access-control-max-age', '600')
    res.writeHead(204)
    res.end()
    return true
  }
  return false
}
