import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { isIP, BlockList } from 'node:net'
import { QantaraError } from '../errors.js'

/** Addresses an untrusted URL may not reach unless the operator allows it. */
const PRIVATE = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  PRIVATE.addSubnet(net, prefix, 'ipv4')
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['::ffff:0:0', 96],
] as const)
  PRIVATE.addSubnet(net, prefix, 'ipv6')

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address)
  return family !== 0 && PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

export interface SafeHttpOptions {
  timeoutMs: number
  maxBytes: number
  /** Let URLs resolve to loopback and private ranges (the devnet; never production). */
  allowPrivate: boolean
  /** Sockets kept open per host, for probing many orders of one agent. */
  maxSockets?: number
}

/**
 * An HTTP client for untrusted endpoints (provider agents, peers): pooled
 * keep-alive sockets, an overall deadline (a trickling server cannot hold a
 * request open), a body cap, no redirects, no content encodings, and a DNS
 * check at connect time so a name cannot rebind to a private address after
 * validation. Plain `node:http`: a probe is one small POST and one small
 * answer, and a general-purpose client's per-request work was a tenth of a
 * probe's CPU (issue 16).
 */
export interface SafeHttp {
  readonly http: HttpAgent
  readonly https: HttpsAgent
}

export function createSafeHttp(o: SafeHttpOptions): SafeHttp {
  const lookup = (
    hostname: string,
    options: object,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, [])
      const list = addresses
      const refused = !o.allowPrivate && list.some((a) => isPrivateAddress(a.address))
      if (refused)
        return callback(
          Object.assign(new Error(`${hostname} resolves to a private or loopback address`), {
            code: 'EPRIVATE',
          }),
          [],
        )
      if ((options as { all?: boolean }).all) return callback(null, list)
      callback(null, list[0]!.address, list[0]!.family)
    })
  }
  const agentOptions = { keepAlive: true, maxSockets: o.maxSockets ?? 16, lookup }
  return { http: new HttpAgent(agentOptions), https: new HttpsAgent(agentOptions) }
}

/** One request with an overall deadline; literal private IPs are refused before any socket opens. */
export function safeRequest(
  client: SafeHttp,
  o: SafeHttpOptions,
  req: {
    method: 'GET' | 'POST'
    url: string
    body?: string
    signal?: AbortSignal
    /** A larger body cap for this request (a compute challenge's answer); the client's otherwise. */
    maxBytes?: number
  },
): Promise<{ status: number; body: string }> {
  const maxBytes = req.maxBytes ?? o.maxBytes
  let url: URL
  try {
    url = new URL(req.url)
  } catch {
    return Promise.reject(new QantaraError('ENDPOINT_REFUSED', `not a URL: ${req.url.slice(0, 200)}`))
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return Promise.reject(new QantaraError('ENDPOINT_REFUSED', `${url.protocol} URLs are not allowed`))
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (!o.allowPrivate && (isPrivateAddress(host) || host === 'localhost'))
    return Promise.reject(new QantaraError('ENDPOINT_REFUSED', `${host} is a private or loopback address`))
  if (req.signal?.aborted) return Promise.reject(aborted(req.signal))
  // Our own signal, following the caller's: the caller's is shared by every request in flight (hundreds), and a
  // listener on it each would trip Node's leak warning; a dependent signal is tracked without one.
  const callerSignal = req.signal && AbortSignal.any([req.signal])
  const body = req.body === undefined ? undefined : Buffer.from(req.body, 'utf8')
  const secure = url.protocol === 'https:'
  return new Promise((resolve, reject) => {
    let settled = false
    const finish = (err: QantaraError | undefined, value?: { status: number; body: string }) => {
      if (settled) return
      settled = true
      clearTimeout(deadline)
      callerSignal?.removeEventListener('abort', onAbort)
      if (err) {
        // A socket left mid-answer cannot be reused: destroyed, so the pool opens a fresh one.
        request.destroy()
        reject(err)
      } else resolve(value!)
    }
    const request = (secure ? httpsRequest : httpRequest)(url, {
      method: req.method,
      agent: secure ? client.https : client.http,
      headers: body ? { 'content-type': 'application/json', 'content-length': body.byteLength } : undefined,
    })
    const deadline = setTimeout(
      () =>
        finish(
          new QantaraError('ENDPOINT_TIMEOUT', `no complete answer within ${o.timeoutMs} ms`, {
            retryable: true,
          }),
        ),
      o.timeoutMs,
    )
    const onAbort = () => finish(aborted(callerSignal!))
    callerSignal?.addEventListener('abort', onAbort, { once: true })
    request.on('error', (err: NodeJS.ErrnoException) =>
      finish(
        err.code === 'EPRIVATE'
          ? new QantaraError('ENDPOINT_REFUSED', err.message, { cause: err })
          : new QantaraError('ENDPOINT_UNREACHABLE', err.message, { cause: err, retryable: true }),
      ),
    )
    request.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0
      if (status >= 300 && status < 400)
        return finish(new QantaraError('ENDPOINT_REFUSED', `redirect (${status}) refused`))
      if (res.headers['content-encoding'] && res.headers['content-encoding'] !== 'identity')
        return finish(new QantaraError('ENDPOINT_REFUSED', 'encoded (compressed) answers are refused'))
      if (Number(res.headers['content-length'] ?? 0) > maxBytes) return finish(tooLarge(maxBytes))
      const chunks: Buffer[] = []
      let total = 0
      res.on('data', (chunk: Buffer) => {
        total += chunk.byteLength
        if (total > maxBytes) return finish(tooLarge(maxBytes))
        chunks.push(chunk)
      })
      res.on('end', () => finish(undefined, { status, body: Buffer.concat(chunks, total).toString('utf8') }))
      res.on('error', (err) =>
        finish(new QantaraError('ENDPOINT_UNREACHABLE', err.message, { cause: err, retryable: true })),
      )
    })
    request.end(body)
  })
}

/** Our own abort (shutdown, a lost lease) reads as a timeout to callers: nothing was answered in time. */
function aborted(signal: AbortSignal): QantaraError {
  return new QantaraError('ENDPOINT_TIMEOUT', 'request aborted', { cause: signal.reason, retryable: true })
}

function tooLarge(maxBytes: number): QantaraError {
  return new QantaraError('RESPONSE_TOO_LARGE', `response over ${maxBytes} bytes`)
}
