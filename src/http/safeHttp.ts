import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { isIP, BlockList } from 'node:net'
import axios, { AxiosError, type AxiosInstance } from 'axios'
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
 * An HTTP client for untrusted endpoints (provider agents, peers): an overall
 * deadline (a trickling server cannot hold a request open), a body cap, no
 * redirects, and a DNS check at connect time so a name cannot rebind to a
 * private address after validation.
 */
export function createSafeHttp(o: SafeHttpOptions): AxiosInstance {
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
  return axios.create({
    timeout: o.timeoutMs,
    maxContentLength: o.maxBytes,
    maxBodyLength: o.maxBytes,
    maxRedirects: 0,
    responseType: 'text',
    transformResponse: [(d: unknown) => d],
    validateStatus: () => true,
    httpAgent: new HttpAgent(agentOptions),
    httpsAgent: new HttpsAgent(agentOptions),
    proxy: false,
  })
}

/** One request with an overall deadline; literal private IPs are refused before any socket opens. */
export async function safeRequest(
  http: AxiosInstance,
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
    throw new QantaraError('ENDPOINT_REFUSED', `not a URL: ${req.url.slice(0, 200)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new QantaraError('ENDPOINT_REFUSED', `${url.protocol} URLs are not allowed`)
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (!o.allowPrivate && (isPrivateAddress(host) || host === 'localhost'))
    throw new QantaraError('ENDPOINT_REFUSED', `${host} is a private or loopback address`)
  const deadline = AbortSignal.timeout(o.timeoutMs)
  const signal = req.signal ? AbortSignal.any([req.signal, deadline]) : deadline
  try {
    const res = await http.request<string>({
      method: req.method,
      url: url.toString(),
      data: req.body,
      headers: req.body ? { 'content-type': 'application/json' } : {},
      signal,
      maxContentLength: maxBytes,
    })
    if (res.status >= 300 && res.status < 400)
      throw new QantaraError('ENDPOINT_REFUSED', `redirect (${res.status}) refused`)
    return { status: res.status, body: res.data }
  } catch (err) {
    if (err instanceof QantaraError) throw err
    const e = err as AxiosError
    if (
      e.code === 'ERR_FR_TOO_MANY_REDIRECTS' ||
      (e.response && e.response.status >= 300 && e.response.status < 400)
    )
      throw new QantaraError('ENDPOINT_REFUSED', 'redirect refused', { cause: err })
    if (/maxContentLength|maxContentLength size/i.test(e.message))
      throw new QantaraError('RESPONSE_TOO_LARGE', `response over ${maxBytes} bytes`, { cause: err })
    if (
      (e.cause as { code?: string } | undefined)?.code === 'EPRIVATE' ||
      /private or loopback/.test(e.message)
    )
      throw new QantaraError('ENDPOINT_REFUSED', e.message, { cause: err })
    if (e.code === 'ERR_CANCELED' || e.code === 'ECONNABORTED' || deadline.aborted)
      throw new QantaraError('ENDPOINT_TIMEOUT', `no complete answer within ${o.timeoutMs} ms`, {
        cause: err,
        retryable: true,
      })
    throw new QantaraError('ENDPOINT_UNREACHABLE', e.message, { cause: err, retryable: true })
  }
}
