import type { z } from 'zod'
import { safeRequest, type SafeHttp, type SafeHttpOptions } from '../http/safeHttp.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { Store } from '../store/store.js'
import { openEnvelope } from './envelope.js'

export interface Peer {
  id: string
  url: string
}

export interface GossipOptions {
  selfId: string
  peers: Peer[]
  relayerKeys: ReadonlyMap<string, string>
  store: Store
  http: SafeHttp
  httpOptions: SafeHttpOptions
  skewMs: number
  metrics: Metrics
  logger: Logger
}

/** How old a peer's sealed answer may be: a stale one replayed later is refused. */
const ENVELOPE_MAX_AGE_MS = 5 * 60_000

export type Sealed<T> =
  { status: 'ok'; body: T } | { status: 'absent'; httpStatus: number; text: string } | { status: 'bad' }

/**
 * GETs `path` from a peer and opens its answer: an envelope sealed by that
 * peer's identity key for `tag`, whose body matches `schema`. A bad one is
 * counted against the peer (BAD_ENVELOPE); a non-200 is `absent`.
 */
export async function getSealed<T>(
  o: GossipOptions,
  peer: Peer,
  path: string,
  tag: string,
  schema: z.ZodType<T>,
  signal?: AbortSignal,
  maxBytes?: number,
): Promise<Sealed<T>> {
  const res = await safeRequest(o.http, o.httpOptions, {
    method: 'GET',
    url: `${peer.url}${path}`,
    signal,
    ...(maxBytes ? { maxBytes } : {}),
  })
  if (res.status !== 200) return { status: 'absent', httpStatus: res.status, text: res.body.slice(0, 200) }
  const body = schema.safeParse(
    openEnvelope(tag, parseJson(res.body), peer.id, o.relayerKeys, ENVELOPE_MAX_AGE_MS),
  )
  if (body.success) return { status: 'ok', body: body.data }
  o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BAD_ENVELOPE' })
  return { status: 'bad' }
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}
