import {
  createPublicClient,
  http,
  BaseError,
  ContractFunctionRevertedError,
  ExecutionRevertedError,
  type Chain,
  type PublicClient,
} from 'viem'
import { QantaraError, errorMessage, isQantaraError } from '../../src/errors.js'
import { boundedFetch } from '../../src/http/boundedFetch.js'
import type { Logger } from '../../src/log.js'
import { redactUrl } from '../../src/http/redactUrl.js'

/** Largest JSON-RPC response accepted; a 2,000-block getLogs page of escrow events is far below it. */
const MAX_RPC_RESPONSE_BYTES = 32 * 1024 * 1024

export interface RpcPoolOptions {
  chain: Chain
  urls: string[]
  timeoutMs: number
  logger: Logger
}

interface Endpoint {
  url: string
  client: PublicClient
  /** Set once eth_chainId has been checked; a wrong chain stays disabled. */
  verified: boolean
  wrongChain: boolean
}

/**
 * Several RPC URLs for one chain. Each call goes to the preferred endpoint and
 * fails over to the next on any error that another endpoint could answer
 * differently; the endpoint that answered becomes preferred.
 */
export class RpcPool {
  private readonly endpoints: Endpoint[]
  private preferred = 0

  constructor(private readonly options: RpcPoolOptions) {
    this.endpoints = options.urls.map((url) => ({
      url,
      verified: false,
      wrongChain: false,
      client: createPublicClient({
        chain: options.chain,
        transport: http(url, {
          timeout: options.timeoutMs,
          retryCount: 0,
          fetchFn: boundedFetch(MAX_RPC_RESPONSE_BYTES),
        }),
        cacheTime: 0,
        pollingInterval: 250,
      }),
    }))
  }

  get urls(): string[] {
    return this.endpoints.map((e) => e.url)
  }

  /** Runs `op` against one endpoint after another until one succeeds or the error is final. */
  async run<T>(op: (client: PublicClient) => Promise<T>, label: string): Promise<T> {
    let lastError: unknown
    for (let attempt = 0; attempt < this.endpoints.length; attempt++) {
      const index = (this.preferred + attempt) % this.endpoints.length
      const endpoint = this.endpoints[index]!
      if (endpoint.wrongChain) continue
      try {
        await this.verify(endpoint)
        const result = await op(endpoint.client)
        this.preferred = index
        return result
      } catch (err) {
        if (shouldThrow(err)) throw err
        lastError = err
        this.options.logger.warn(
          { rpc: redactUrl(endpoint.url), op: label, err },
          'rpc endpoint failed, trying the next',
        )
      }
    }
    throw new QantaraError('RPC_UNAVAILABLE', `every RPC endpoint failed for ${label}`, {
      retryable: true,
      cause: lastError,
      details: errorMessage(lastError),
    })
  }

  /** Runs `op` against every healthy endpoint; resolves with the first success (used to broadcast). */
  async any<T>(op: (client: PublicClient) => Promise<T>, label: string): Promise<T> {
    const live = this.endpoints.filter((e) => !e.wrongChain)
    try {
      return await Promise.any(
        live.map(async (e) => {
          await this.verify(e)
          return op(e.client)
        }),
      )
    } catch (err) {
      const errors: unknown[] = err instanceof AggregateError ? (err.errors as unknown[]) : [err]
      const final = errors.find((e) => shouldThrow(e))
      if (final !== undefined) throw final as Error
      throw new QantaraError('RPC_UNAVAILABLE', `every RPC endpoint failed for ${label}`, {
        retryable: true,
        cause: errors[0],
        details: errorMessage(errors[0]),
      })
    }
  }

  private async verify(endpoint: Endpoint): Promise<void> {
    if (endpoint.verified) return
    const id = await endpoint.client.getChainId()
    if (id !== this.options.chain.id) {
      endpoint.wrongChain = true
      this.options.logger.error(
        { rpc: redactUrl(endpoint.url), expected: this.options.chain.id, got: id },
        'rpc endpoint serves another chain; disabled',
      )
      throw new QantaraError(
        'RPC_WRONG_CHAIN',
        `${redactUrl(endpoint.url)} serves chain ${id}, not ${this.options.chain.id}`,
      )
    }
    endpoint.verified = true
  }
}

/**
 * The fail-over policy, in one place: errors that every endpoint would give
 * (a contract revert, our own abort, a refused log range) are thrown at once;
 * anything else may be the endpoint's fault, so the next one is tried.
 */
export function shouldThrow(err: unknown): boolean {
  if (isQantaraError(err)) return err.code === 'ABORTED' || err.code === 'RPC_RANGE_REFUSED'
  if (err instanceof BaseError)
    return Boolean(
      err.walk((e) => e instanceof ContractFunctionRevertedError || e instanceof ExecutionRevertedError),
    )
  return false
}
