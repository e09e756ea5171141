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
import { EndpointFailover, type RpcObserver } from '../../src/http/endpointFailover.js'

/** Largest JSON-RPC response accepted; a 2,000-block getLogs page of escrow events is far below it. */
const MAX_RPC_RESPONSE_BYTES = 32 * 1024 * 1024

export interface RpcPoolOptions {
  chain: Chain
  urls: string[]
  timeoutMs: number
  logger: Logger
  observe?: RpcObserver
}

/**
 * Several RPC URLs for one chain, each a viem client. A call goes to the
 * endpoint that last answered and fails over to the next on any error another
 * endpoint could answer differently; an endpoint serving another chain id is
 * dropped for good.
 */
export class RpcPool {
  private readonly clients = new Map<string, PublicClient>()
  private readonly failover: EndpointFailover

  constructor(private readonly options: RpcPoolOptions) {
    for (const url of options.urls)
      this.clients.set(
        url,
        createPublicClient({
          chain: options.chain,
          transport: http(url, {
            timeout: options.timeoutMs,
            retryCount: 0,
            fetchFn: boundedFetch(MAX_RPC_RESPONSE_BYTES),
          }),
          cacheTime: 0,
          pollingInterval: 250,
        }),
      )
    this.failover = new EndpointFailover({
      urls: options.urls,
      what: `eip155:${options.chain.id}`,
      verify: async (url) => {
        const id = await this.clients.get(url)!.getChainId()
        return id === options.chain.id ? undefined : `serves chain ${id}, not ${options.chain.id}`
      },
      isFinal: shouldThrow,
      logger: options.logger,
      ...(options.observe ? { observe: options.observe } : {}),
    })
  }

  get urls(): string[] {
    return [...this.clients.keys()]
  }

  /** Runs `op` against one endpoint after another until one succeeds or the error is final. */
  run<T>(op: (client: PublicClient) => Promise<T>, label: string): Promise<T> {
    return this.failover.run((url) => op(this.clients.get(url)!), label)
  }

  /** Runs `op` against every endpoint at once; resolves with the first success (used to broadcast). */
  async any<T>(op: (client: PublicClient) => Promise<T>, label: string): Promise<T> {
    try {
      return await Promise.any(
        this.urls.map((url) => this.failover.run(() => op(this.clients.get(url)!), label, url)),
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
