import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { gzipSync } from 'node:zlib'
import { createSafeHttp, safeRequest, type SafeHttpOptions } from '../src/http/safeHttp.js'
import { startHostileAgent } from './support/hostileAgent.js'
import { isQantaraError } from '../src/errors.js'

// The client every provider agent and peer is reached through, against a real loopback server that misbehaves.
const options: SafeHttpOptions = { timeoutMs: 1_000, maxBytes: 1_024, allowPrivate: true, maxSockets: 4 }
let server: Awaited<ReturnType<typeof startHostileAgent>>
/** The code a request failed with, or 'answered'. */
const codeOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'answered',
    (err: unknown) => (isQantaraError(err) ? err.code : String(err)),
  )

beforeAll(async () => {
  server = await startHostileAgent()
})
afterAll(async () => {
  await server.close()
})

describe('safeRequest', () => {
  it('keeps its sockets alive: 200 requests, 16 at a time, over at most maxSockets connections', async () => {
    const sockets = new Set<unknown>()
    server.set((req, res, body) => {
      sockets.add(req.socket)
      res.writeHead(200, { 'content-type': 'application/json' }).end(body)
    })
    const http = createSafeHttp(options)
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        safeRequest(http, options, { method: 'POST', url: `${server.url}/x`, body: `{"i":${i}}` }),
      ),
    )
    expect(answers.map((a) => a.body)).toEqual(Array.from({ length: 200 }, (_, i) => `{"i":${i}}`))
    expect(sockets.size).toBeLessThanOrEqual(4)
  })

  it('refuses a body over the cap, declared or streamed, before the deadline, and a larger cap lets one through', async () => {
    const http = createSafeHttp(options)
    const get = (maxBytes?: number) =>
      safeRequest(http, options, {
        method: 'GET',
        url: `${server.url}/big`,
        ...(maxBytes ? { maxBytes } : {}),
      })
    // Declares 10 MB and then sends nothing: refused on the header, not after a timeout.
    server.set((_q, res) => res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) }).write(' '))
    const started = Date.now()
    expect(await codeOf(get())).toBe('RESPONSE_TOO_LARGE')
    expect(Date.now() - started).toBeLessThan(options.timeoutMs)
    server.set((_q, res) => res.writeHead(200).end('x'.repeat(2_000)))
    expect(await codeOf(get())).toBe('RESPONSE_TOO_LARGE')
    expect((await get(4_096)).body).toHaveLength(2_000)
  })

  it('refuses redirects and compressed answers, and gives up on a trickle at the deadline', async () => {
    const http = createSafeHttp(options)
    const get = () => safeRequest(http, options, { method: 'GET', url: `${server.url}/` })
    server.set((_q, res) => res.writeHead(307, { location: 'http://169.254.169.254/' }).end())
    expect(await codeOf(get())).toBe('ENDPOINT_REFUSED')
    // A few kilobytes of gzip can inflate to gigabytes: an encoded answer is never decoded.
    server.set((_q, res) => res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync('{}')))
    expect(await codeOf(get())).toBe('ENDPOINT_REFUSED')
    server.set((_q, res) => {
      res.writeHead(200)
      const t = setInterval(() => (res.writableEnded ? clearInterval(t) : res.write(' ')), 50)
      res.on('close', () => clearInterval(t))
    })
    expect(await codeOf(get())).toBe('ENDPOINT_TIMEOUT')
  })

  it("ends at once when the caller's signal aborts, and when the server drops the connection mid-answer", async () => {
    const http = createSafeHttp(options)
    server.set(() => undefined) // never answers
    const stop = new AbortController()
    const pending = codeOf(
      safeRequest(http, options, { method: 'GET', url: `${server.url}/`, signal: stop.signal }),
    )
    setTimeout(() => stop.abort(), 20)
    const started = Date.now()
    expect(await pending).toBe('ENDPOINT_TIMEOUT')
    expect(Date.now() - started).toBeLessThan(options.timeoutMs)
    server.set((req, res) => {
      res.writeHead(200, { 'content-length': '100' }).write('{"half":')
      setTimeout(() => req.socket.destroy(), 10)
    })
    expect(await codeOf(safeRequest(http, options, { method: 'GET', url: `${server.url}/` }))).toBe(
      'ENDPOINT_UNREACHABLE',
    )
    server.set((_q, res) => res.writeHead(200).end('ok'))
    expect((await safeRequest(http, options, { method: 'GET', url: `${server.url}/` })).body).toBe('ok')
  })

  it('refuses other schemes, and private addresses unless they are allowed, before opening a socket', async () => {
    const strict = { ...options, allowPrivate: false }
    const http = createSafeHttp(strict)
    for (const url of [
      'file:///etc/passwd',
      'http://127.0.0.1:1/',
      'http://[::1]:1/',
      'http://localhost:1/',
      'not a url',
    ])
      expect(await codeOf(safeRequest(http, strict, { method: 'GET', url }))).toBe('ENDPOINT_REFUSED')
  })
})
