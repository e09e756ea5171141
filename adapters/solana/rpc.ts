import { createSolanaRpcFromTransport, type RpcTransport } from '@solana/kit'
import { QantaraError } from '../../src/errors.js'
import { boundedFetch } from '../../src/http/boundedFetch.js'
import { EndpointFailover, type RpcObserver } from '../../src/http/endpointFailover.js'
import type { Logger } from '../../src/log.js'

export interface SolanaRpcOptions {
  /** Tried in order, with fail-over; the one that last answered is asked first. */
  urls: readonly string[]
  timeoutMs: number
  /** A json-encoded transaction is a few kB; a page of 1000 signatures about 250 kB. */
  maxResponseBytes?: number
  /** The chain the endpoints must serve (solana:<genesis hash prefix>): one serving another is dropped. */
  chain?: string
  observe?: RpcObserver
  logger?: Logger
}

/**
 * @solana/kit's RPC over a transport of our own: every answer bounded in size
 * and time, transport failures turned into retryable typed errors, and each
 * request sent to the configured endpoints in turn until one answers. An
 * answer that is a JSON-RPC error is an answer: kit throws it, no fail-over.
 */
export function solanaRpc(o: SolanaRpcOptions) {
  const fetchBounded = boundedFetch(o.maxResponseBytes ?? 4 * 1024 * 1024)
  const post = async <T>(url: string, payload: unknown, signal?: AbortSignal): Promise<T> => {
    const method = (payload as { method?: string }).method ?? 'rpc'
    let res: Response
    try {
      const timeout = AbortSignal.timeout(o.timeoutMs)
      res = await fetchBounded(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: jsonWithIntegers(payload),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      })
    } catch (cause) {
      if (signal?.aborted) throw cause
      throw new QantaraError('RPC_UNAVAILABLE', `solana ${method}: ${(cause as Error).message}`, {
        cause,
        retryable: true,
      })
    }
    if (res.status !== 200)
      throw new QantaraError('RPC_UNAVAILABLE', `solana ${method}: HTTP ${res.status}`, { retryable: true })
    let body: unknown
    try {
      body = await res.json()
    } catch (cause) {
      throw new QantaraError('RPC_BAD_RESPONSE', `solana ${method}: not JSON`, { cause, retryable: true })
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new QantaraError('RPC_BAD_RESPONSE', `solana ${method}: not a JSON-RPC answer`, {
        retryable: true,
      })
    // A node that says it is behind, missing the block or slot asked for, or rate limiting, is this node's trouble:
    // another may answer. Any other JSON-RPC error is an answer, which kit throws to the caller.
    const code = (body as { error?: { code?: unknown } }).error?.code
    if (typeof code === 'number' && NODE_TROUBLE.has(code))
      throw new QantaraError('RPC_UNAVAILABLE', `solana ${method}: the node answered error ${code}`, {
        retryable: true,
      })
    return body as T
  }
  const chain = o.chain
  const endpoints = new EndpointFailover({
    urls: o.urls,
    what: chain ?? 'solana',
    ...(chain
      ? {
          verify: async (url: string) => {
            const answer = await post<{ result?: unknown }>(url, {
              jsonrpc: '2.0',
              id: 0,
              method: 'getGenesisHash',
            })
            // No hash is no evidence: the node is only refused for good when it names another chain.
            if (typeof answer.result !== 'string')
              throw new QantaraError('RPC_BAD_RESPONSE', 'solana getGenesisHash: no hash in the answer', {
                retryable: true,
              })
            const served = `solana:${answer.result.slice(0, 32)}`
            return served === chain ? undefined : `serves ${served}, not ${chain}`
          },
        }
      : {}),
    ...(o.observe ? { observe: o.observe } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
  })
  const transport: RpcTransport = <T>({ payload, signal }: { payload: unknown; signal?: AbortSignal }) =>
    endpoints.run((url) => post<T>(url, payload, signal), (payload as { method?: string }).method)
  return createSolanaRpcFromTransport(transport)
}

export type SolanaRpc = ReturnType<typeof solanaRpc>

/**
 * JSON-RPC errors that are the answering node's state, not the request's:
 * -32004 block not available, -32005 node unhealthy (behind), -32009 slot
 * missing in this node's long-term storage, -32014 block status not yet
 * available, -32016 minimum context slot not reached; 429 a provider's rate
 * limit. (A skipped slot, -32007, is the same on every node.)
 */
const NODE_TROUBLE = new Set([-32004, -32005, -32009, -32014, -32016, 429])

/** A bigint's stand-in, as JSON.stringify escapes it: no string of an RPC call holds a NUL. */
const BIGINT_MARK = /"\\u0000bigint:(-?\d+)"/g

/** JSON whose bigints (u64 amounts, sizes) are written as exact integer literals, as Solana's RPC reads them. */
function jsonWithIntegers(payload: unknown): string {
  return JSON.stringify(payload, (_key, v: unknown) =>
    typeof v === 'bigint' ? `\u0000bigint:${v.toString()}` : v,
  ).replace(BIGINT_MARK, '$1')
}
