import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Validator } from '@seriousme/openapi-schema-validator'
import { Ajv2020 } from 'ajv/dist/2020.js'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer } from 'node:http'
import { freePorts } from '../devkit/freePort.js'
import { verifyWebhook } from '../src/webhooks/verify.js'
import { waitFor } from '../devkit/waitFor.js'
import { verifyTypedData, type Address, type Hex, type TypedDataDomain } from 'viem'
import { settlementTypes } from '../adapters/evm/eip712.js'
import { DEVKIT } from './support/cli.js'
import { listen } from './support/inProcessRelayer.js'
import { launchChromium, watchedPage } from './support/browser.js'
import { tempDir } from './support/tmp.js'

interface Row {
  orderId: string
  chain: string
  token: string
  upSlots: number
  totalSlots: number
  toProvider: string
  toRenter: string
  fee: string
  reason: string
  uptime: string
}

/** Screenshots for a reviewer to look at, beside the test run's other output. */
const SHOTS = fileURLToPath(new URL('../test-output/dashboard/', import.meta.url))
const grouped = (s: string) => s.replace(/\B(?=(\d{3})+(?!\d))/g, ',')

let devnet: ChildProcess
let base = ''
let rows: Row[] = []
let browser: Browser
const tmp = tempDir()

/** `npm run devnet -- --keep --json`: waits for its JSON line of settled orders and the dashboard URL it printed. */
function startDevnet(webhooks: string[]): Promise<void> {
  const hooks = webhooks.flatMap((url) => ['--webhook', url])
  devnet = spawn(process.execPath, [DEVKIT, 'devnet', '--keep', '--json', '--dir', tmp.dir, ...hooks], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`devnet did not settle:\n${err.slice(-2000)}`)), 170_000)
    const check = () => {
      const url = /dashboard: (http:\/\/127\.0\.0\.1:\d+)\/ui\//.exec(err)?.[1]
      const line = out.split('\n').find((l) => l.startsWith('{"orders"'))
      if (!url || !line) return
      clearTimeout(timer)
      base = url
      rows = (JSON.parse(line) as { orders: Row[] }).orders
      resolve()
    }
    devnet.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      check()
    })
    devnet.stderr!.on('data', (d: Buffer) => {
      err += d.toString()
      check()
    })
    devnet.once('exit', (code) => reject(new Error(`devnet exited ${code}:\n${err.slice(-2000)}`)))
  })
}

/**
 * A Web2 system's receiver: each delivery's first attempt answers 500 (a
 * hiccup), the next is taken; what it takes it processes once per key.
 */
interface Delivery {
  body: string
  headers: Record<string, string | string[] | undefined>
}
const attempts: Delivery[] = []
const processed = new Map<string, Delivery>()
const receiver = createServer((req, res) => {
  let body = ''
  req.on('data', (d: Buffer) => (body += d.toString()))
  req.on('end', () => {
    const key = String(req.headers['idempotency-key'])
    const seen = attempts.some((a) => a.headers['idempotency-key'] === key)
    attempts.push({ body, headers: req.headers })
    if (!seen) return res.writeHead(500).end()
    if (!processed.has(key)) processed.set(key, { body, headers: req.headers })
    res.writeHead(204).end()
  })
})

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true })
  const live = await listen(receiver)
  // A receiver nobody answers at: the relayer keeps retrying it and never waits on it.
  const dead = `http://127.0.0.1:${(await freePorts(1))[0]}/hook`
  await startDevnet([`${live}/hook`, dead])
  browser = await launchChromium()
}, 200_000)

afterAll(async () => {
  await browser?.close()
  receiver.closeAllConnections()
  await new Promise((ok) => receiver.close(ok))
  if (devnet && devnet.exitCode === null) {
    const exited = new Promise((ok) => devnet.once('exit', ok))
    devnet.kill('SIGTERM')
    await exited
  }
  tmp.cleanup()
}, 60_000)

describe('the dashboard, in Chromium, on a running devnet', () => {
  it("lists the orders, shows an order's down slots with their reasons and its telemetry, a provider's figures and the relayer", async () => {
    const { page, errors } = await watchedPage(browser)
    const down = rows.find((r) => r.reason === 'PARTIAL_DOWNTIME')!
    await page.goto(`${base}/ui/#/orders`)
    await page.waitForSelector(`tr[data-order="${rows[0]!.orderId}"]`)
    expect(await page.locator('tr[data-order]').count()).toBe(rows.length)
    for (const r of rows)
      expect(await page.locator(`tr[data-order="${r.orderId}"]`).textContent()).toContain(
        `${r.upSlots} / ${r.totalSlots}`,
      )
    await page.screenshot({ path: join(SHOTS, 'orders.png'), fullPage: true })

    await page.goto(`${base}/ui/#/orders/${down.orderId}`)
    await page.waitForSelector('.strip .slot')
    expect(await page.locator('.strip .slot').count()).toBe(down.totalSlots)
    for (const [slot, status] of [...down.uptime].entries()) {
      const cell = page.locator(`.strip .slot[data-slot="${slot}"]`)
      const up = status === 'C' || status === 'T'
      expect(await cell.getAttribute('class')).toMatch(up ? /compute-verified/ : /down|heartbeat-only/)
    }
    // The slot whose GPU was gone from the telemetry: the agent answered, nothing was proved.
    const gpuLess = down.uptime.indexOf('M')
    expect(await page.locator(`.strip .slot[data-slot="${gpuLess}"]`).getAttribute('class')).toContain(
      'heartbeat-only',
    )
    expect(await page.locator(`li[data-down-slot="${gpuLess}"]`).textContent()).toContain('GPU_MISSING')
    expect(await page.locator('[data-field="toProvider"]').textContent()).toBe(grouped(down.toProvider))
    expect(await page.locator('[data-field="toRenter"]').textContent()).toBe(grouped(down.toRenter))
    expect(await page.locator('[data-field="fee"]').textContent()).toBe(grouped(down.fee))
    // uPlot draws each of the four figures on a canvas.
    await page.waitForSelector('.chart canvas')
    expect(await page.locator('.chart canvas').count()).toBe(4)
    await page.screenshot({ path: join(SHOTS, 'order-with-down-slots.png'), fullPage: true })

    const providerId = (await (await fetch(`${base}/v1/orders/${down.orderId}`)).json()) as {
      terms: { providerId: string }
    }
    await page.goto(`${base}/ui/#/providers/${providerId.terms.providerId}`)
    await page.waitForSelector('[data-field="uptime"]')
    const up = rows.reduce((n, r) => n + r.upSlots, 0)
    const total = rows.reduce((n, r) => n + r.totalSlots, 0)
    expect(await page.locator('[data-field="uptime"]').textContent()).toBe(
      `${((100 * up) / total).toFixed(1)}%`,
    )
    const earned = rows
      .filter((r) => r.token !== 'native')
      .reduce((n, r) => n + BigInt(r.toProvider), 0n)
      .toString()
    expect(await page.locator('table.earnings').textContent()).toContain(grouped(earned))
    await page.screenshot({ path: join(SHOTS, 'provider.png'), fullPage: true })

    await page.goto(`${base}/ui/#/relayer`)
    await page.waitForSelector('tr[data-chain="eip155:31337"]')
    expect(await page.locator('tr[data-chain="eip155:31337"] td').nth(1).textContent()).toBe('✓')
    expect(await page.locator('main').textContent()).toContain(`settled ${rows.length}`)
    await page.screenshot({ path: join(SHOTS, 'relayer.png'), fullPage: true })
    expect(errors).toEqual([])
    await page.close()
  }, 60_000)

  it('reads on a phone: nothing wider than the screen but the tables, which scroll in their own boxes', async () => {
    const { page, errors } = await watchedPage(browser, { width: 390, height: 844 })
    const down = rows.find((r) => r.reason === 'PARTIAL_DOWNTIME')!
    await page.goto(`${base}/ui/#/orders/${down.orderId}`)
    await page.waitForSelector('.chart canvas')
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390)
    await page.screenshot({ path: join(SHOTS, 'order-on-a-phone.png'), fullPage: true })
    expect(errors).toEqual([])
    await page.close()
  }, 30_000)
})

describe('the HTTP API against its OpenAPI document', () => {
  it('serves a valid OpenAPI 3.1 document, and every route answers as it says, errors included', async () => {
    const doc = (await (await fetch(`${base}/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: unknown }> }>>
      components: { schemas: Record<string, unknown> }
    }
    const validation = await new Validator().validate(doc)
    expect(validation.errors ?? []).toEqual([])
    const ajv = new Ajv2020({ strict: false })
    ajv.addSchema({ $id: 'doc', components: doc.components })
    const schemaOf = (path: string, status: number) => {
      const content = doc.paths[path]!.get!.responses[String(status)]!.content as {
        'application/json': { schema: { $ref: string } }
      }
      return ajv.getSchema(`doc${content['application/json'].schema.$ref}`)!
    }
    const { orderId } = rows[0]!
    const provider = (
      (await (await fetch(`${base}/v1/orders/${orderId}`)).json()) as { terms: { providerId: string } }
    ).terms.providerId
    const calls: [string, string, number][] = [
      ['/healthz', '/healthz', 200],
      ['/livez', '/livez', 200],
      ['/v1/relayer', '/v1/relayer', 200],
      ['/v1/orders', '/v1/orders?limit=2', 200],
      ['/v1/orders', `/v1/orders?state=settled&provider=${provider}&chain=eip155:31337`, 200],
      ['/v1/orders', '/v1/orders?limit=5000', 400],
      ['/v1/orders/{id}', `/v1/orders/${orderId}`, 200],
      ['/v1/orders/{id}', `/v1/orders/0x${'ab'.repeat(32)}`, 404],
      ['/v1/orders/{id}/receipt', `/v1/orders/${orderId}/receipt`, 200],
      ['/v1/providers', '/v1/providers?chain=eip155:31337', 200],
      ['/v1/providers/{id}', `/v1/providers/${provider}`, 200],
      ['/v1/providers/{id}', `/v1/providers/0x${'cd'.repeat(32)}`, 404],
    ]
    for (const [path, url, status] of calls) {
      const res = await fetch(`${base}${url}`)
      expect(`${url} ${res.status}`).toBe(`${url} ${status}`)
      const validate = schemaOf(path, status)
      const body: unknown = await res.json()
      expect(validate(body) ? [] : validate.errors, url).toEqual([])
    }
    // Filters narrow: two orders per page, then the rest from the cursor, and no order of another state.
    const first = (await (await fetch(`${base}/v1/orders?limit=2`)).json()) as {
      next: string
      orders: unknown[]
    }
    const rest = (await (await fetch(`${base}/v1/orders?limit=2&cursor=${first.next}`)).json()) as {
      orders: unknown[]
    }
    expect(first.orders.length + rest.orders.length).toBe(rows.length)
    expect(
      ((await (await fetch(`${base}/v1/orders?state=active`)).json()) as { orders: unknown[] }).orders,
    ).toEqual([])
  })

  it("gives a settlement's receipt that a system checks without a chain node: the quorum's signatures over the typed data it names", async () => {
    const r = rows[0]!
    const receipt = (await (await fetch(`${base}/v1/orders/${r.orderId}/receipt`)).json()) as {
      threshold: number
      settlement: { toProvider: string }
      statement: { scheme: string; typedData: { domain: TypedDataDomain; message: Record<string, unknown> } }
      signatures: { signer: Address; signature: Hex }[]
    }
    expect(receipt.settlement.toProvider).toBe(r.toProvider)
    expect(receipt.statement.scheme).toBe('eip712')
    const { domain, message } = receipt.statement.typedData
    // JSON carries uint256 as decimal strings: the checker reads them back as integers.
    const typed = {
      domain,
      types: settlementTypes,
      primaryType: 'Settlement' as const,
      message: {
        ...message,
        toProvider: BigInt(message.toProvider as string),
        toRenter: BigInt(message.toRenter as string),
        fee: BigInt(message.fee as string),
      } as never,
    }
    expect(receipt.signatures.length).toBeGreaterThanOrEqual(receipt.threshold)
    for (const sig of receipt.signatures)
      expect(await verifyTypedData({ ...typed, address: sig.signer, signature: sig.signature })).toBe(true)
    // The same signatures over a settlement paying the provider one unit more do not check.
    const inflated = {
      ...typed,
      message: { ...(typed.message as object), toProvider: BigInt(r.toProvider) + 1n } as never,
    }
    expect(
      await verifyTypedData({
        ...inflated,
        address: receipt.signatures[0]!.signer,
        signature: receipt.signatures[0]!.signature,
      }),
    ).toBe(false)
  })

  it('lets only configured origins read it from a browser, and takes no write from a page of another origin', async () => {
    // The devnet configures no CORS origin: a cross-origin read gets no allow header, so the browser withholds it.
    const read = await fetch(`${base}/v1/orders`, { headers: { origin: 'https://evil.example' } })
    expect(read.headers.get('access-control-allow-origin')).toBeNull()
    const write = await fetch(`${base}/v1/providers`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'text/plain' },
      body: '{}',
    })
    expect(write.status).toBe(403)
    expect(await write.json()).toEqual({
      error: 'CROSS_ORIGIN',
      detail: 'writes are not taken from web pages',
    })
  })
})

describe('webhooks from the running relayer', () => {
  it('delivers each event signed by the relayer, retried after a failure under one key and processed once; a dead receiver holds nothing up', async () => {
    const relayerStatus = async () =>
      (await (await fetch(`${base}/v1/relayer`)).json()) as {
        identity: string
        webhooks: { receiver: string; delivered: number; queued: number }[]
      }
    const key = (type: string, r: Row, slot?: number) =>
      `${type}:${r.chain}:${r.orderId}${slot === undefined ? '' : `:${slot}`}`
    const down = rows.find((r) => r.reason === 'PARTIAL_DOWNTIME')!
    const expected = [
      ...rows.map((r) => key('order.opened', r)),
      ...rows.map((r) => key('order.settled', r)),
      ...[...down.uptime].flatMap((c, slot) =>
        c === 'C' || c === 'T' ? [] : [key('slot.down', down, slot)],
      ),
    ]
    await waitFor(
      () => Promise.resolve(expected.every((k) => processed.has(k)) || undefined),
      'every event delivered after its retry',
      60_000,
      250,
    )
    const status = await relayerStatus()
    for (const k of expected) {
      const d = processed.get(k)!
      expect(verifyWebhook({ body: d.body, headers: d.headers, publicKey: status.identity })).toMatchObject({
        ok: true,
      })
      // Delivered twice (a 500, then taken), both under the same key with the same event.
      const tries = attempts.filter((a) => a.headers['idempotency-key'] === k)
      expect(tries.length).toBeGreaterThanOrEqual(2)
      expect(new Set(tries.map((t) => (JSON.parse(t.body) as { id: string }).id))).toEqual(new Set([k]))
    }
    const gpuLess = down.uptime.indexOf('M')
    const slotDown = JSON.parse(processed.get(key('slot.down', down, gpuLess))!.body) as { data: unknown }
    expect(slotDown.data).toEqual({ slot: gpuLess, reason: 'GPU_MISSING' })
    const settled = JSON.parse(processed.get(key('order.settled', down))!.body) as {
      data: Record<string, unknown>
    }
    expect(settled.data).toMatchObject({
      outcome: 'settled',
      toProvider: down.toProvider,
      toRenter: down.toRenter,
      upSlots: down.upSlots,
    })
    // A forged or altered delivery does not verify.
    const one = processed.get(expected[0]!)!
    expect(
      verifyWebhook({
        body: one.body.replace('order', 'ordex'),
        headers: one.headers,
        publicKey: status.identity,
      }),
    ).toMatchObject({ ok: false })
    // The dead receiver's deliveries wait for their retries; the market settled regardless.
    const [live, dead] = status.webhooks
    expect(live!.delivered).toBeGreaterThanOrEqual(expected.length)
    expect(dead!.delivered).toBe(0)
    expect(dead!.queued).toBeGreaterThan(0)
    // A receiver's path may be its only secret: the public page shows origins.
    expect(JSON.stringify(status.webhooks)).not.toContain('/hook')
  }, 90_000)
})
