import { afterEach, describe, expect, it } from 'vitest'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { abortableDelay } from '../src/abort.js'
import { generateEd25519 } from '../src/ed25519.js'
import { silentLogger } from '../src/log.js'
import { createMetrics } from '../src/metrics.js'
import { WebhookDispatcher, type WebhookDispatcherOptions } from '../src/webhooks/dispatcher.js'
import type { WebhookConfig } from '../src/webhooks/config.js'
import type { WebhookEvent, WebhookPayload } from '../src/webhooks/events.js'
import { verifyWebhook } from '../src/webhooks/verify.js'
import { freePort } from '../devkit/freePort.js'
import { waitFor } from '../devkit/waitFor.js'
import { tempDir } from './support/tmp.js'

// Outbound webhooks against real loopback receivers: signed deliveries, retries, refusals, and isolation of hooks.

interface Received {
  path: string
  headers: IncomingHttpHeaders
  body: string
}
type Answer = (r: Received, res: ServerResponse) => void

async function startReceiver(answer: Answer = (_r, res) => res.writeHead(204).end()) {
  const received: Received[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => (body += d.toString('utf8')))
    req.on('end', () => {
      const r = { path: req.url ?? '', headers: req.headers, body }
      received.push(r)
      answer(r, res)
    })
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  const close = () =>
    new Promise<void>((ok) => {
      server.closeAllConnections()
      server.close(() => ok())
    })
  cleanups.push(close)
  return { url, received, ids: () => received.map((r) => (JSON.parse(r.body) as WebhookPayload).id) }
}

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const relayer = generateEd25519().signer
const hook = (url: string, o: Partial<WebhookConfig> = {}): WebhookConfig => ({
  url,
  events: ['order.opened', 'slot.down', 'order.settled', 'payout.proved'],
  maxQueue: 1_000,
  timeoutMs: 2_000,
  ...o,
})

/** A dispatcher with short backoffs, delivering until the test ends. */
function start(o: Partial<WebhookDispatcherOptions> & { hooks: WebhookConfig[] }, run = true) {
  const d = new WebhookDispatcher({
    signer: relayer,
    relayerId: 'relayer-a',
    logger: silentLogger(),
    retry: { baseDelayMs: 10, maxDelayMs: 40 },
    ...o,
  })
  const stop = new AbortController()
  let running: Promise<void> | undefined
  const go = () => {
    running = d.run(stop.signal)
  }
  if (run) go()
  cleanups.push(async () => {
    stop.abort()
    await running
  })
  return { d, stop, go, stopped: () => running }
}

/** Polls a condition every 10 ms until it gives a value. */
const until = <T>(fn: () => T | false | undefined, what: string, ms = 5_000) =>
  waitFor(() => Promise.resolve(fn() || undefined), what, ms, 10)

const opened = (n: number): WebhookEvent => ({
  type: 'order.opened',
  orderId: `0x${n.toString(16).padStart(64, '0')}`,
  chain: 'eip155:31337',
  data: { amount: 10n ** 21n + BigInt(n), slots: 24 },
})

describe('webhook deliveries', () => {
  it('arrive as signed JSON POSTs that verifyWebhook accepts, and fail verification tampered or stale', async () => {
    const receiver = await startReceiver()
    const { d } = start({ hooks: [hook(receiver.url, { events: ['order.opened', 'slot.down'] })] })
    d.emit(opened(1))
    d.emit({ ...opened(1), type: 'order.settled', data: { txHash: '0x01' } }) // not subscribed
    d.emit({ ...opened(1), type: 'slot.down', data: { slot: 3, reason: 'NO_HEARTBEAT' } })
    await until(() => receiver.received.length === 2, 'two deliveries')

    const [first, second] = receiver.received as [Received, Received]
    const payload = JSON.parse(first.body) as WebhookPayload
    expect(payload).toEqual({
      id: `order.opened:eip155:31337:${opened(1).orderId}`,
      type: 'order.opened',
      orderId: opened(1).orderId,
      chain: 'eip155:31337',
      relayerId: 'relayer-a',
      data: { amount: '1000000000000000000001', slots: 24 },
      emittedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
    })
    expect(first.headers['content-type']).toBe('application/json')
    expect(first.headers['idempotency-key']).toBe(payload.id)
    expect(first.headers['qantara-relayer']).toBe(relayer.publicKey.slice(2))
    expect((JSON.parse(second.body) as WebhookPayload).id).toBe(
      `slot.down:eip155:31337:${opened(1).orderId}:3`,
    )

    const check = (body: string, now = Date.now()) =>
      verifyWebhook({ body, headers: first.headers, publicKey: relayer.publicKey, now: () => now })
    expect(check(first.body)).toMatchObject({ ok: true })
    expect(check(first.body.replace('"slots":24', '"slots":25'))).toEqual({
      ok: false,
      reason: 'BAD_SIGNATURE',
    })
    expect(check(first.body, Date.now() + 600_000)).toEqual({ ok: false, reason: 'STALE_TIMESTAMP' })
    expect(d.status()[0]).toMatchObject({ delivered: 2, failed: 0, dropped: 0, queued: 0 })
  })

  it('are retried after 500s with the same Idempotency-Key, and a receiver that deduplicates processes them once', async () => {
    const processed: string[] = []
    const seen = new Set<string>()
    let answered = 0
    // Commits first, then fails to answer twice: the case retries and idempotency keys exist for.
    const receiver = await startReceiver((r, res) => {
      const key = r.headers['idempotency-key'] as string
      if (!seen.has(key)) {
        seen.add(key)
        processed.push(key)
      }
      res.writeHead(++answered <= 2 ? 500 : 200).end('ok')
    })
    const { d } = start({ hooks: [hook(receiver.url)] })
    d.emit(opened(2))
    await until(() => d.status()[0]!.delivered === 1, 'the delivery')

    expect(receiver.received).toHaveLength(3)
    expect(new Set(receiver.received.map((r) => r.headers['idempotency-key']))).toEqual(
      new Set([`order.opened:eip155:31337:${opened(2).orderId}`]),
    )
    expect(new Set(receiver.received.map((r) => r.body)).size).toBe(1)
    for (const r of receiver.received)
      expect(verifyWebhook({ body: r.body, headers: r.headers, publicKey: relayer.publicKey }).ok).toBe(true)
    expect(processed).toEqual([`order.opened:eip155:31337:${opened(2).orderId}`])
    const status = d.status()[0]!
    expect(status.recent.map((x) => [x.outcome, x.httpStatus, x.attempts])).toEqual([
      ['delivered', 200, 3],
      ['retrying', 500, 2],
      ['retrying', 500, 1],
    ])
    expect(status.last).toEqual(status.recent[0])
  })

  it('are not retried after a 400 nor after a redirect, which is not followed', async () => {
    const elsewhere = await startReceiver()
    const refusing = await startReceiver((_r, res) => res.writeHead(400).end('bad'))
    const redirecting = await startReceiver((_r, res) =>
      res.writeHead(307, { location: elsewhere.url }).end(),
    )
    const metrics = createMetrics()
    const { d } = start({ hooks: [hook(refusing.url), hook(redirecting.url)], metrics })
    d.emit(opened(3))
    await until(() => d.status().every((s) => s.failed === 1), 'both deliveries to fail')
    // Several backoffs' worth: a retry would have come by now.
    await abortableDelay(300)
    expect([refusing.received.length, redirecting.received.length, elsewhere.received.length]).toEqual([
      1, 1, 0,
    ])
    expect(d.status().map((s) => [s.last?.outcome, s.last?.httpStatus])).toEqual([
      ['failed', 400],
      ['failed', 307],
    ])
    const failed = (await metrics.webhookDeliveries.get()).values.filter((v) => v.labels.outcome === 'failed')
    expect(failed.map((v) => v.value)).toEqual([1, 1])
  })

  it("to a dead or a hanging receiver hold up neither a healthy hook's deliveries nor emit()", async () => {
    const dead = `http://127.0.0.1:${await freePort()}/hook`
    // The hanging hook and the healthy one on one server, so they share a host and port: one path never answers.
    const server = await startReceiver((r, res) =>
      r.path === '/hang' ? undefined : res.writeHead(204).end(),
    )
    const at = (path: string) => server.received.filter((r) => r.path === path)
    const { d, stop, stopped } = start({
      hooks: [
        hook(dead),
        hook(server.url.replace('/hook', '/hang'), { timeoutMs: 60_000 }),
        hook(server.url),
      ],
    })
    for (let i = 0; i < 50; i++) d.emit(opened(100 + i))
    await until(() => at('/hook').length === 50, 'the healthy hook', 10_000)
    expect(at('/hook').map((r) => r.headers['idempotency-key'])).toEqual(
      Array.from({ length: 50 }, (_, i) => `order.opened:eip155:31337:${opened(100 + i).orderId}`),
    )
    expect(at('/hang')).toHaveLength(1)
    expect(d.status()[1]).toMatchObject({ queued: 50, delivered: 0, failed: 0 })
    const deadLast = await until(() => d.status()[0]!.last, 'an attempt to the dead receiver')
    expect(deadLast).toMatchObject({
      outcome: 'retrying',
      error: expect.stringContaining('ECONNREFUSED') as unknown,
    })
    // Shutdown ends the hanging request rather than waiting out its timeout.
    stop.abort()
    await stopped()
    expect(d.status()[1]!.queued).toBe(50)
  })

  it('drop and count events past the queue bound, and deliver the ones held', async () => {
    const receiver = await startReceiver()
    const metrics = createMetrics()
    const { d, go } = start({ hooks: [hook(receiver.url, { maxQueue: 3 })], metrics }, false)
    for (let i = 0; i < 5; i++) d.emit(opened(200 + i))
    expect(d.status()[0]).toMatchObject({ queued: 3, dropped: 2, delivered: 0 })
    const dropped = (await metrics.webhookDeliveries.get()).values.find((v) => v.labels.outcome === 'dropped')
    expect(dropped?.value).toBe(2)
    expect((await metrics.webhookQueue.get()).values.map((v) => v.value)).toEqual([3])
    go()
    await until(() => d.status()[0]!.delivered === 3, 'three deliveries')
    expect(receiver.ids()).toEqual(
      [200, 201, 202].map((n) => `order.opened:eip155:31337:${opened(n).orderId}`),
    )
    expect((await metrics.webhookQueue.get()).values.map((v) => v.value)).toEqual([0])
  })

  it('send URL credentials to the receiver but never show them', async () => {
    const receiver = await startReceiver()
    const secretUrl = receiver.url.replace('http://', 'http://user:hunter2@') + '?token=s3cr3t'
    const { d } = start({ hooks: [hook(secretUrl)] })
    d.emit(opened(4))
    await until(() => d.status()[0]!.delivered === 1, 'the delivery')
    expect(receiver.received[0]!.headers.authorization).toBe(
      `Basic ${Buffer.from('user:hunter2').toString('base64')}`,
    )
    expect(JSON.stringify(d.status())).not.toMatch(/hunter2|s3cr3t/)
    expect(d.status()[0]!.url).toBe(`${receiver.url}?…`)
  })

  it('take the status of an answer whose body never ends, reading no more than 64 KiB of it', async () => {
    let written = 0
    const receiver = await startReceiver((_r, res) => {
      res.writeHead(200)
      const more = () => {
        if (res.destroyed) return
        written += 16_384
        res.write('x'.repeat(16_384), () => setImmediate(more))
      }
      more()
    })
    // A minute's deadline: only the cap can end this answer within the wait below.
    const { d } = start({ hooks: [hook(receiver.url, { timeoutMs: 60_000 })] })
    d.emit(opened(5))
    await until(() => d.status()[0]!.delivered === 1, 'the delivery')
    expect(written).toBeGreaterThan(65_536)
  })

  it('are accepted by the receiver snippet of docs/WEBHOOKS.md, which refuses them stale', async () => {
    const snippet = /```js\n([\s\S]*?)```/.exec(readFileSync('docs/WEBHOOKS.md', 'utf8'))![1]!
    const port = await freePort()
    const { dir, cleanup } = tempDir()
    const file = join(dir, 'receiver.mjs')
    writeFileSync(
      file,
      snippet
        .replace("['0x…']", JSON.stringify([relayer.publicKey]))
        .replace('.listen(8787)', `.listen(${port}, '127.0.0.1')`),
    )
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] })
    let printed = ''
    child.stdout.on('data', (d: Buffer) => (printed += d.toString()))
    cleanups.push(() => {
      child.kill()
      cleanup()
    })
    const url = `http://127.0.0.1:${port}/events`
    // Retried until the receiver listens.
    const retry = { baseDelayMs: 20, maxDelayMs: 50, maxAttempts: 200 }
    const fresh = start({ hooks: [hook(url)], retry })
    const stale = start({ hooks: [hook(url)], retry, now: () => Date.now() - 600_000 })
    fresh.d.emit(opened(6))
    stale.d.emit(opened(7))
    await until(() => fresh.d.status()[0]!.delivered === 1, 'the delivery', 10_000)
    await until(() => stale.d.status()[0]!.failed === 1, 'the stale delivery to be refused', 10_000)
    expect(stale.d.status()[0]!.last).toMatchObject({ outcome: 'failed', httpStatus: 401 })
    await until(() => printed.includes(opened(6).orderId), 'the receiver to print the event')
    expect(printed).not.toContain(opened(7).orderId)
  })
})
