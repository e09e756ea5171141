import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { canonicalJson } from '../src/canonicalJson.js'
import { generateEd25519 } from '../src/ed25519.js'
import { providerRecordBytes, type ProviderRecord } from '../src/registry/record.js'
import { runCli, type CliResult } from './support/cli.js'

// `qantara providers list` and `qantara order status` against a real HTTP server answering as a relayer's API
// does, honestly or not: the CLI is built (npx tsc -p .) and run as a renter runs it.
const SOLANA = 'solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp'
const id = (byte: string) => `0x${byte.repeat(32)}`
const now = () => Math.floor(Date.now() / 1000)

function signedRecord(over: Partial<ProviderRecord> = {}) {
  const provider = generateEd25519().signer
  const record: ProviderRecord = {
    v: 1,
    providerId: provider.publicKey,
    url: 'https://gpu.example.org',
    gpus: [{ name: 'NVIDIA H100 80GB HBM3', memoryTotalMiB: 81_559, uuid: 'GPU-1' }],
    payout: { [SOLANA]: 'So11111111111111111111111111111111111111112' },
    prices: [{ chain: SOLANA, token: 'mint1', gpuClass: 'hopper-h100', perSlot: '2500000', slotLength: 60 }],
    seq: 1,
    expiresAt: now() + 3_600,
    ...over,
  }
  return { record, signature: provider.sign(providerRecordBytes(record)) }
}

/** A vault order as GET /v1/orders/:id serves it (bigints as decimal strings), settled 5 of 6 slots up. */
const start = now() - 600
function vaultOrder(orderId: string, over: Record<string, unknown> = {}) {
  return {
    terms: {
      id: orderId,
      chain: SOLANA,
      renter: 'RenterAccount1111111111111111111111111111111',
      token: 'mint1',
      amount: '6000000',
      providerId: id('ab'),
      payout: 'PayoutAccount1111111111111111111111111111111',
      start: String(start),
      slotLength: 60,
      slots: 6,
      gpu: { class: 'hopper-h100', count: 1, minVramMiB: 0 },
    },
    state: 'settled',
    settlement: {
      orderId,
      toProvider: '4750000',
      toRenter: '1000000',
      fee: '250000',
      feeRecipient: 'FeeAccount11111111111111111111111111111111',
      upSlots: 5,
      totalSlots: 6,
      heartbeatRoot: id('cd'),
    },
    reason: 'PARTIAL_DOWNTIME',
    uptime: 'TTTT.T',
    txHash: '5VERYLONGsolanaSignature1111111111111111111111111111111111111111111',
    updatedAt: Date.now(),
    slotCounts: { TELEMETRY_MATCHED: 5, NO_HEARTBEAT: 1 },
    // The per-slot page as src/api/orderRoutes.ts serves it.
    slots: {
      from: 0,
      count: 6,
      items: [...'TTTT.T'].map((c, slot) => ({
        slot,
        status: c,
        up: c === 'T',
        proof: c === 'T' ? 'telemetry-matched' : 'down',
        reason: c === 'T' ? 'TELEMETRY_MATCHED' : 'NO_HEARTBEAT',
        heartbeats: c === 'T' ? 2 : 0,
        gpus:
          c === 'T'
            ? [
                {
                  index: 0,
                  name: 'NVIDIA H100 80GB HBM3',
                  utilizationPct: 90 + slot,
                  memoryUsedMiB: 70_000,
                  memoryTotalMiB: 81_559,
                  temperatureC: 70,
                  powerDrawMilliwatts: 650_000,
                },
              ]
            : null,
      })),
    },
    end: String(start + 360),
    heartbeats: 10,
    ...over,
  }
}

const genuine = signedRecord()
const tampered = (() => {
  const r = signedRecord()
  return {
    ...r,
    record: { ...r.record, payout: { [SOLANA]: 'Attacker11111111111111111111111111111111111' } },
  }
})()
const laterPage = signedRecord({ prices: [] })
const ORDER = id('01')
const LYING = id('02')
const WATCHED = id('03')
const BTC = id('04')
let watchedAsks = 0

const relayer: Server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://relayer')
  const send = (status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(canonicalJson(body))
  if (url.pathname === '/v1/providers')
    return url.searchParams.get('cursor')
      ? send(200, { providers: [laterPage], next: null })
      : send(200, { providers: [genuine, tampered], next: tampered.record.providerId })
  const order = /^\/v1\/orders\/(0x[0-9a-f]{64})$/.exec(url.pathname)?.[1]
  if (order === ORDER) return send(200, vaultOrder(ORDER))
  // The split adds up to more than the order locked: no relayer's honest answer.
  if (order === LYING)
    return send(200, vaultOrder(LYING, { settlement: { ...vaultOrder(LYING).settlement, fee: '9' } }))
  if (order === WATCHED)
    return send(
      200,
      ++watchedAsks < 3
        ? vaultOrder(WATCHED, {
            state: 'active',
            settlement: undefined,
            reason: undefined,
            txHash: undefined,
            uptime: 'TT',
          })
        : vaultOrder(WATCHED),
    )
  if (order === BTC) {
    const o = vaultOrder(BTC, { btcTxid: 'ee'.repeat(32), btcBlock: '00'.repeat(32), btcSats: '48000' })
    return send(200, { ...o, terms: { ...o.terms, chain: 'eip155:31337', token: 'native' } })
  }
  send(404, { error: 'UNKNOWN_ORDER' })
})
let url = ''
beforeAll(async () => {
  await new Promise<void>((ok) => relayer.listen(0, '127.0.0.1', ok))
  url = `http://127.0.0.1:${(relayer.address() as AddressInfo).port}`
})
afterAll(() => new Promise((ok) => relayer.close(ok)))

const json = (r: CliResult) => r.stdout.split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)

describe('qantara providers list', () => {
  it('shows records whose provider signed them, page after page, and lists a rewritten one as refused', async () => {
    const r = await runCli(['providers', 'list', '--relayer', url, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const [listing] = json(r) as [{ relayer: string; offers: ProviderRecord[]; refused: unknown[] }]
    expect(listing.relayer).toBe(url)
    expect(listing.offers.map((o) => o.providerId)).toEqual([
      genuine.record.providerId,
      laterPage.record.providerId,
    ])
    expect(listing.refused).toEqual([
      { providerId: tampered.record.providerId, reason: 'BAD_SIGNATURE', detail: 'not signed by providerId' },
    ])
  })

  it('checks the filter itself: a record the relayer lists for a chain it has no price on is refused', async () => {
    const r = await runCli([
      'providers',
      'list',
      '--relayer',
      url,
      '--chain',
      SOLANA,
      '--token',
      'mint1',
      '--decimals',
      '6',
    ])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('relayer ' + url + ': 1 offer(s) with good signatures, 2 refused')
    expect(r.stdout).toContain(
      'hopper-h100 on ' + SOLANA + ' in mint1: 2500000 (2.5, 6 decimals) per GPU per 60 s slot',
    )
    expect(r.stdout).toContain(`refused ${tampered.record.providerId}: BAD_SIGNATURE`)
    expect(r.stdout).toContain(`refused ${laterPage.record.providerId}: NOT_ASKED_FOR`)
  })
})

describe('qantara order status, from a relayer', () => {
  it("prints a vault order's state, slots, split and transaction as JSON, naming the relayer that answered", async () => {
    const r = await runCli(['order', 'status', ORDER, '--relayer', `${url}/`, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const [status] = json(r)
    expect(status).toMatchObject({
      orderId: ORDER,
      chain: SOLANA,
      custody: 'vault',
      onChain: null,
      relayer: url,
      known: true,
      state: 'settled',
      final: true,
      decimals: null,
      slots: {
        total: 6,
        up: 5,
        counts: { TELEMETRY_MATCHED: 5, NO_HEARTBEAT: 1 },
        uptime: 'TTTT.T',
        heartbeats: 10,
      },
      settlement: {
        toProvider: '4750000',
        toRenter: '1000000',
        fee: '250000',
        upSlots: 5,
        reason: 'PARTIAL_DOWNTIME',
      },
      txHash: vaultOrder(ORDER).txHash,
      btc: null,
      // Utilisation 90, 91, 92, 93 and 95 over the five slots with telemetry.
      telemetry: {
        from: 0,
        count: 6,
        gpus: [
          {
            index: 0,
            name: 'NVIDIA H100 80GB HBM3',
            slots: 5,
            utilizationPctAvg: 92,
            memoryUsedMiBMax: 70_000,
            temperatureCMax: 70,
            powerWattsAvg: 650,
          },
        ],
      },
    })
  })

  it('shows the amounts with the decimals given for people', async () => {
    const r = await runCli(['order', 'status', ORDER, '--relayer', url, '--decimals', '6'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`state      settled, as relayer ${url} answers`)
    expect(r.stdout).toContain('5 of 6 up: TELEMETRY_MATCHED 5, NO_HEARTBEAT 1 (10 heartbeats)')
    expect(r.stdout).toContain('provider 4750000 (4.75, 6 decimals), renter 1000000 (1, 6 decimals)')
  })

  it("shows a BTC order's payout, and says the escrow was not read without --rpc", async () => {
    const r = await runCli(['order', 'status', BTC, '--relayer', url, '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(json(r)[0]).toMatchObject({
      custody: 'escrow',
      onChain: null,
      btc: { txid: 'ee'.repeat(32), block: '00'.repeat(32), sats: '48000' },
    })
    const text = await runCli(['order', 'status', BTC, '--relayer', url])
    expect(text.stdout).toContain('48000 sats paid in ' + 'ee'.repeat(32))
    expect(text.stdout).toContain('not read: give --rpc, --escrow and --chain')
  })

  it("says an order the relayer does not know is unknown to it, and refuses a split that is not the order's", async () => {
    const unknown = await runCli(['order', 'status', id('0f'), '--relayer', url, '--json'])
    expect(unknown.code).toBe(0)
    expect(json(unknown)[0]).toMatchObject({ known: false, state: null, final: false })
    const lying = await runCli(['order', 'status', LYING, '--relayer', url, '--json'])
    expect(lying.code).toBe(3)
    expect(json(lying)[0]).toMatchObject({ error: 'RPC_BAD_RESPONSE', exitCode: 3 })
    expect((json(lying)[0] as { message: string }).message).toContain("not the order's amount 6000000")
  })

  it('watches until the order is final, printing each change once', async () => {
    const r = await runCli([
      'order',
      'status',
      WATCHED,
      '--relayer',
      url,
      '--watch',
      '--interval',
      '1',
      '--json',
    ])
    expect(r.code, r.stderr).toBe(0)
    expect(json(r).map((s) => [s.state, s.final])).toEqual([
      ['active', false],
      ['settled', true],
    ])
  })

  it('ends a usage error with 2 and an unreachable relayer with 3, as a JSON object on stdout', async () => {
    const vaultWithoutRelayer = await runCli(['order', 'status', ORDER, '--chain', SOLANA, '--json'])
    expect(vaultWithoutRelayer.code).toBe(2)
    expect(json(vaultWithoutRelayer)[0]).toMatchObject({ error: 'CONFIG_INVALID', exitCode: 2 })
    const badFlag = await runCli(['--json', 'order', 'status', ORDER, '--interval', '0'])
    expect(json(badFlag)[0]).toMatchObject({ error: 'USAGE', exitCode: 2 })
    // A command group without its subcommand: one JSON object saying so, and nothing on stderr (no help text).
    const group = await runCli(['order', '--json'])
    expect([group.code, group.stderr]).toEqual([2, ''])
    expect(json(group)).toEqual([
      { error: 'USAGE', message: 'a subcommand is needed: see --help', exitCode: 2 },
    ])
    const closed = createServer()
    await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok))
    const port = (closed.address() as AddressInfo).port
    await new Promise((ok) => closed.close(ok))
    const down = await runCli(['order', 'status', ORDER, '--relayer', `http://127.0.0.1:${port}`, '--json'])
    expect(down.code).toBe(3)
    expect(json(down)[0]).toMatchObject({ error: 'ENDPOINT_UNREACHABLE', exitCode: 3 })
    expect(down.stderr).toBe('')
  })
})
