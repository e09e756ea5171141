import {
  Comet38Client,
  Tendermint34Client,
  Tendermint37Client,
  type CometClient,
  type RpcClient,
} from '@cosmjs/tendermint-rpc'
import { QantaraError } from '../../src/errors.js'
import { boundedFetch } from '../../src/http/boundedFetch.js'

export interface CometRpcOptions {
  url: string
  timeoutMs: number
  /** A page of 100 transactions with their events is well under this. */
  maxResponseBytes?: number
}

/** cosmjs's JSON-RPC client interface over our own fetch: every answer bounded in size and time, failures typed. */
function boundedRpcClient(o: CometRpcOptions): RpcClient {
  const fetchBounded = boundedFetch(o.maxResponseBytes ?? 16 * 1024 * 1024)
  return {
    async execute(request) {
      let res: Response
      try {
        res = await fetchBounded(o.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(request),
          signal: AbortSignal.timeout(o.timeoutMs),
        })
      } catch (cause) {
        throw new QantaraError('RPC_UNAVAILABLE', `cometbft ${request.method}: ${(cause as Error).message}`, {
          cause,
          retryable: true,
        })
      }
      let body: { result?: unknown; error?: { message?: string; data?: string } }
      try {
        body = (await res.json()) as typeof body
      } catch (cause) {
        throw new QantaraError(
          'RPC_BAD_RESPONSE',
          `cometbft ${request.method}: HTTP ${res.status}, not JSON`,
          { cause, retryable: true },
        )
      }
      if (body.error || body.result === undefined)
        throw new QantaraError(
          'RPC_BAD_RESPONSE',
          `cometbft ${request.method}: ${body.error?.message ?? 'no result'} ${body.error?.data ?? ''}`.trim(),
          { retryable: true },
        )
      return { jsonrpc: '2.0', id: request.id, result: body.result }
    },
    disconnect() {},
  }
}

/** The CometBFT client for the node's version (0.34, 0.37 or 0.38), over the bounded transport. */
export async function cometClient(o: CometRpcOptions): Promise<CometClient> {
  const rpc = boundedRpcClient(o)
  const status = (await rpc.execute({ jsonrpc: '2.0', id: 0, method: 'status', params: {} })).result as {
    node_info?: { version?: string }
  }
  const version = status.node_info?.version ?? ''
  if (version.startsWith('0.34.')) return Tendermint34Client.create(rpc)
  if (version.startsWith('0.37.')) return Tendermint37Client.create(rpc)
  if (version.startsWith('0.38.') || version.startsWith('1.')) return Comet38Client.create(rpc)
  throw new QantaraError('RPC_BAD_RESPONSE', `unsupported CometBFT version "${version}"`)
}
