import { createSolanaRpcFromTransport, type RpcTransport } from '@solana/kit'
import { QantaraError } from '../../src/errors.js'
import { boundedFetch } from '../../src/http/boundedFetch.js'

export interface SolanaRpcOptions {
  url: string
  timeoutMs: number
  /** A json-encoded transaction is a few kB; a page of 1000 signatures about 250 kB. */
  maxResponseBytes?: number
}

/**
 * @solana/kit's RPC over a transport of our own: every answer bounded in size
 * and time, and transport failures turned into retryable typed errors.
 */
export function solanaRpc(o: SolanaRpcOptions) {
  const fetchBounded = boundedFetch(o.maxResponseBytes ?? 4 * 1024 * 1024)
  const transport: RpcTransport = async <T>({
    payload,
    signal,
  }: {
    payload: unknown
    signal?: AbortSignal
  }): Promise<T> => {
    const method = (payload as { method?: string }).method ?? 'rpc'
    let res: Response
    try {
      const timeout = AbortSignal.timeout(o.timeoutMs)
      res = await fetchBounded(o.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: jsonWithIntegers(payload),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      })
    } catch (cause) {
      throw new QantaraError('RPC_UNAVAILABLE', `solana ${method}: ${(cause as Error).message}`, {
        cause,
        retryable: true,
      })
    }
    if (res.status !== 200)
      throw new QantaraError('RPC_UNAVAILABLE', `solana ${method}: HTTP ${res.status}`, { retryable: true })
    try {
      return (await res.json()) as T
    } catch (cause) {
      throw new QantaraError('RPC_BAD_RESPONSE', `solana ${method}: not JSON`, { cause, retryable: true })
    }
  }
  return createSolanaRpcFromTransport(transport)
}

export type SolanaRpc = ReturnType<typeof solanaRpc>

/** A bigint's stand-in, as JSON.stringify escapes it: no string of an RPC call holds a NUL. */
const BIGINT_MARK = /"\\u0000bigint:(-?\d+)"/g

/** JSON whose bigints (u64 amounts, sizes) are written as exact integer literals, as Solana's RPC reads them. */
function jsonWithIntegers(payload: unknown): string {
  return JSON.stringify(payload, (_key, v: unknown) =>
    typeof v === 'bigint' ? `\u0000bigint:${v.toString()}` : v,
  ).replace(BIGINT_MARK, '$1')
}
