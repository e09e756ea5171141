import { QantaraError, errorMessage, isQantaraError } from '../errors.js'
import type { Logger } from '../log.js'
import { redactUrl } from './redactUrl.js'

/** Told of every request to an RPC endpoint, named as a log line may show it: for per-endpoint request, error and latency metrics. */
export type RpcObserver = (endpoint: string, outcome: 'ok' | 'error', seconds: number) => void

/**
 * Thrown by a call whose endpoint answered, with an error that is the answer
 * (a JSON-RPC error about the request): the inner error goes to the caller,
 * no other endpoint is asked, and the endpoint counts as working.
 */
export class EndpointAnswered extends Error {
  constructor(readonly answer: unknown) {
    super('the endpoint answered with an error')
  }
}

export interface EndpointFailoverOptions {
  urls: readonly string[]
  /** What the endpoints serve, for messages: `solana:…`, `cosmos:…`. */
  what: string
  /** Why an endpoint cannot be used (it serves another chain), checked on its first use; such an endpoint is never used again. */
  verify?: (url: string) => Promise<string | undefined>
  /** Errors every endpoint would give alike: thrown at once. By default, any error that is not a retryable QantaraError. */
  isFinal?: (err: unknown) => boolean
  observe?: RpcObserver
  logger?: Logger
  /**
   * A failed call is not retried on the next endpoint: the next call goes
   * there. For a caller whose calls must all read one node (a poll that
   * checks a node's index, then searches it), so a failure ends its run.
   */
  onePerCall?: boolean
}

interface Endpoint {
  url: string
  label: string
  verified: boolean
  refused?: string
}

/**
 * Several URLs of one RPC. A call goes to the endpoint that last answered and,
 * on an error another endpoint could answer differently (a timeout, a 5xx, an
 * answer that does not parse), to the next; an endpoint of another chain is
 * dropped for good. One request, whichever endpoint took it, is one
 * observation.
 */
export class EndpointFailover {
  private readonly endpoints: Endpoint[]
  private preferred = 0

  constructor(private readonly o: EndpointFailoverOptions) {
    if (o.urls.length === 0) throw new QantaraError('CONFIG_INVALID', `${o.what}: no RPC URL`)
    this.endpoints = o.urls.map((url) => ({ url, label: redactUrl(url), verified: !o.verify }))
  }

  /** Calls one endpoint after another until one answers or the error is final; `only` pins the call to that URL (a broadcast to each). */
  async run<T>(call: (url: string) => Promise<T>, label = 'request', only?: string): Promise<T> {
    const isFinal = this.o.isFinal ?? ((err: unknown) => !(isQantaraError(err) && err.retryable))
    let lastError: unknown
    for (let attempt = 0; attempt < this.endpoints.length; attempt++) {
      const index = (this.preferred + attempt) % this.endpoints.length
      const endpoint = this.endpoints[index]!
      if (endpoint.refused || (only !== undefined && endpoint.url !== only)) continue
      const started = performance.now()
      try {
        if (!endpoint.verified) await this.verify(endpoint)
        if (endpoint.refused) continue
        const result = await call(endpoint.url)
        this.o.observe?.(endpoint.label, 'ok', (performance.now() - started) / 1000)
        if (only === undefined) this.preferred = index
        return result
      } catch (err) {
        const seconds = (performance.now() - started) / 1000
        if (err instanceof EndpointAnswered) {
          this.o.observe?.(endpoint.label, 'ok', seconds)
          throw err.answer
        }
        // Our own abort (shutdown) is nobody's failure.
        if (!isAbort(err)) this.o.observe?.(endpoint.label, 'error', seconds)
        if (isFinal(err)) throw err
        lastError = err
        this.o.logger?.warn(
          { rpc: endpoint.label, op: label, err },
          this.endpoints.length > 1 ? 'rpc endpoint failed, trying the next' : 'rpc endpoint failed',
        )
        if (this.o.onePerCall && only === undefined) {
          this.preferred = (index + 1) % this.endpoints.length
          break
        }
      }
    }
    const refused = this.endpoints.filter((e) => e.refused)
    throw new QantaraError('RPC_UNAVAILABLE', `every ${this.o.what} RPC endpoint failed for ${label}`, {
      retryable: true,
      cause: lastError,
      details:
        lastError !== undefined
          ? errorMessage(lastError)
          : refused.map((e) => `${e.label}: ${e.refused}`).join('; '),
    })
  }

  private async verify(endpoint: Endpoint): Promise<void> {
    // An error answer to the check is no evidence either way: the endpoint stays unverified, and the next is tried.
    const problem = await this.o.verify!(endpoint.url).catch((err: unknown) => {
      throw err instanceof EndpointAnswered ? err.answer : err
    })
    endpoint.verified = true
    if (problem === undefined) return
    endpoint.refused = problem
    this.o.logger?.error({ rpc: endpoint.label, problem }, 'rpc endpoint refused for good')
  }
}

function isAbort(err: unknown): boolean {
  return (err instanceof Error && err.name === 'AbortError') || isQantaraError(err, 'ABORTED')
}
