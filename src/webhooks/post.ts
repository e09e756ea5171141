import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { abortError } from '../abort.js'
import { QantaraError } from '../errors.js'

/** Answer bytes read before the connection is dropped: a receiver's body is never used, only drained. */
export const MAX_ANSWER_BYTES = 65_536

/** One receiver's connections: its own, so one that hangs holds no socket another receiver needs. */
export interface HookAgent {
  http: HttpAgent
  https: HttpsAgent
}

export function createHookAgent(): HookAgent {
  // One delivery in flight per hook, so one socket is all it uses.
  const options = { keepAlive: true, maxSockets: 1 }
  return { http: new HttpAgent(options), https: new HttpsAgent(options) }
}

export function destroyHookAgent(agent: HookAgent): void {
  agent.http.destroy()
  agent.https.destroy()
}

/**
 * POSTs one delivery and resolves with the receiver's status as soon as its
 * answer ends, is over MAX_ANSWER_BYTES, or the deadline passes after the
 * status line came: the status is the answer, and a receiver that trickles
 * its body does not turn an accepted delivery into a retry. Redirects are
 * returned, not followed. Rejects with ENDPOINT_TIMEOUT (no status by the
 * deadline), ENDPOINT_UNREACHABLE (connection, DNS or TLS failure) or
 * ABORTED.
 */
export function postWebhook(o: {
  url: URL
  body: Buffer
  headers: Record<string, string>
  timeoutMs: number
  agent: HookAgent
  signal: AbortSignal
}): Promise<{ status: number; retryAfterSeconds?: number }> {
  if (o.signal.aborted) return Promise.reject(abortError(o.signal))
  const secure = o.url.protocol === 'https:'
  return new Promise((resolve, reject) => {
    let answer: { status: number; retryAfterSeconds?: number } | undefined
    let done = false
    let responseEnded = false
    const finish = (err?: QantaraError) => {
      if (done) return
      done = true
      clearTimeout(deadline)
      o.signal.removeEventListener('abort', onAbort)
      if (err || !answer) {
        // A socket left mid-exchange cannot carry the next request.
        request.destroy()
        reject(err ?? new QantaraError('ENDPOINT_UNREACHABLE', 'no answer', { retryable: true }))
      } else {
        if (!responseEnded) request.destroy()
        resolve(answer)
      }
    }
    const request = (secure ? httpsRequest : httpRequest)(o.url, {
      method: 'POST',
      agent: secure ? o.agent.https : o.agent.http,
      headers: { ...o.headers, 'content-length': String(o.body.byteLength) },
    })
    const deadline = setTimeout(
      () =>
        finish(
          answer
            ? undefined
            : new QantaraError('ENDPOINT_TIMEOUT', `no answer within ${o.timeoutMs} ms`, { retryable: true }),
        ),
      o.timeoutMs,
    )
    const onAbort = () => finish(abortError(o.signal))
    o.signal.addEventListener('abort', onAbort, { once: true })
    request.on('error', (err: NodeJS.ErrnoException) =>
      finish(
        answer
          ? undefined
          : new QantaraError('ENDPOINT_UNREACHABLE', err.message, { cause: err, retryable: true }),
      ),
    )
    request.on('response', (res: IncomingMessage) => {
      answer = { status: res.statusCode ?? 0 }
      const retryAfter = retryAfterSeconds(res.headers['retry-after'])
      if (retryAfter !== undefined) answer.retryAfterSeconds = retryAfter
      let total = 0
      res.on('data', (chunk: Buffer) => {
        total += chunk.byteLength
        if (total > MAX_ANSWER_BYTES) finish()
      })
      res.on('end', () => {
        responseEnded = true
        finish()
      })
      res.on('error', () => finish())
    })
    request.end(o.body)
  })
}

/** Retry-After in delta-seconds; an HTTP date is ignored (the backoff stands). */
function retryAfterSeconds(value: string | undefined): number | undefined {
  return value !== undefined && /^\d{1,7}$/.test(value.trim()) ? Number(value.trim()) : undefined
}
