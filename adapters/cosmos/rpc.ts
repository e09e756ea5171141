import {
  Comet38Client,
  Tendermint34Client,
  Tendermint37Client,
  type CometClient,
  type RpcClient,
} from '@cosmjs/tendermint-rpc'
import { QantaraError } from '../../src/errors.js'
import { boundedFetch } from '../../src/http/boundedFetch.js'
import { EndpointAnswered, EndpointFailover, type RpcObserver } from '../../src/http/endpointFailover.js'
import type { Logger } from '../../src/log.js'

type JsonRpcRequest = Parameters<RpcClient['execute']>[0]

export interface CometRpcOptions {
  /** Tried in order, with fail-over; the one that last answered is asked first. */
  urls: readonly string[]
  timeoutMs: number
  /** A page of 100 transactions with their events is well under this. */
  maxResponseBytes?: number
  /** The chain the nodes must serve (cosmos:<chain-id>): a node of another is dropped. */
  chain?: string
  observe?: RpcObserver
  logger?: Logger
  /** Each call to one node, a failure moving the next call to the next node (EndpointFailoverOptions.onePerCall). */
  onePerCall?: boolean
}

/** cosmjs's JSON-RPC client interface over our own fetch: every answer bounded in size and time, failures typed, endpoints failed over. */
function boundedRpcClient(o: CometRpcOptions): RpcClient {
  const fetchBounded = boundedFetch(o.maxResponseBytes ?? 16 * 1024 * 1024)
  const post = async (url: string, request: JsonRpcRequest): Promise<unknown> => {
    let res: Response
    try {
      res = await fetchBounded(url, {
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
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('not an object')
    } catch (cause) {
      throw new QantaraError('RPC_BAD_RESPONSE', `cometbft ${request.method}: HTTP ${res.status}, not JSON`, {
        cause,
        retryable: true,
      })
    }
    if (body.result === undefined && !body.error)
      throw new QantaraError('RPC_BAD_RESPONSE', `cometbft ${request.method}: no result`, { retryable: true })
    // An error about the request (a transaction already in the mempool, a pruned height) is the node's answer:
    // the caller gets it, retryable, and no other node is asked.
    if (body.error)
      throw new EndpointAnswered(
        new QantaraError(
          'RPC_BAD_RESPONSE',
          `cometbft ${request.method}: ${body.error.message ?? 'error'} ${body.error.data ?? ''}`.trim(),
          { retryable: true },
        ),
      )
    return body.result
  }
  const chain = o.chain
  const endpoints = new EndpointFailover({
    urls: o.urls,
    what: chain ?? 'cometbft',
    ...(chain
      ? {
          verify: async (url: string) => {
            const status = (await post(url, { jsonrpc: '2.0', id: 0, method: 'status', params: {} })) as {
              node_info?: { network?: string }
            } | null
            const network = status?.node_info?.network
            if (typeof network !== 'string')
              throw new QantaraError('RPC_BAD_RESPONSE', 'cometbft status: no network in the answer', {
                retryable: true,
              })
            return `cosmos:${network}` === chain ? undefined : `serves cosmos:${network}, not ${chain}`
          },
        }
      : {}),
    ...(o.observe ? { observe: o.observe } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
    ...(o.onePerCall ? { onePerCall: true } : {}),
  })
  return {
    async execute(request) {
      const result = await endpoints.run((url) => post(url, request), request.method)
      return { jsonrpc: '2.0', id: request.id, result }
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
