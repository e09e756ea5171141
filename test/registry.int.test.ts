import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { ProviderAgent } from '../src/agent/server.js'
import { createApiServer } from '../src/api/server.js'
import { canonicalJson } from '../src/canonicalJson.js'
import { generateEd25519 } from '../src/ed25519.js'
import { isQantaraError } from '../src/errors.js'
import { createSafeHttp } from '../src/http/safeHttp.js'
import { silentLogger } from '../src/log.js'
import { createMetrics } from '../src/metrics.js'
import { providerRecordBytes, type SignedProviderRecord } from '../src/registry/record.js'
import { ProviderRegistry } from '../src/registry/registry.js'
import type { Relayer } from '../src/relay/relayer.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { startHostileAgent } from './support/hostileAgent.js'

const logger = silentLogger()
const httpOptions = { timeoutMs: 2_000, maxBytes: 64 * 1024, allowPrivate: true }
const gpus = [{ name: 'NVIDIA H100 80GB HBM3', memoryTotalMiB: 81559, uuid: 'GPU-1' }]
let agent: ProviderAgent
let agentUrl: string
let store: SqliteStore
let registry: ProviderRegistry
let api: Server
let apiUrl: string

async function listen(server: Server): Promise<string> {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function newAgent(url?: string) {
  const signer = generateEd25519().signer
  return new ProviderAgent({
    signer, recordTtlSeconds: 3600, telemetry: () => Promise.resolve({ gpus: null, unavailable: 'none' }), rateLimit: { perSecond: 100, burst: 100 }, logger,
    record: { url: url ?? 'http://placeholder', gpus, payout: { 'eip155:31337': '0x00000000000000000000000000000000000000aa' }, prices: [{ chain: 'eip155:31337', token: 'native', perSlot: '1000', slotLength: 60 }] },
  })
}

beforeAll(async () => {
  // The agent must advertise its own URL, which is known only once it listens.
  const probe = newAgent()
  agentUrl = await listen(probe.server)
  await new Promise<void>((ok) => probe.server.close(() => ok()))
  agent = newAgent(agentUrl)
  await new Promise<void>((ok) => agent.server.listen(Number(new URL(agentUrl).port), '127.0.0.1', () => ok()))
  store = new SqliteStore(':memory:')
  registry = new ProviderRegistry({ store, http: createSafeHttp(httpOptions), httpOptions, logger })
  const relayer = { health: () => Promise.resolve({ ready: true, chains: {}, store: true }) } as unknown as Relayer
  api = createApiServer({ store, relayer, registry, metrics: createMetrics(), logger })
  apiUrl = await listen(api)
})
afterAll(async () => {
  await new Promise((ok) => agent.server.close(ok))
  await new Promise((ok) => api.close(ok))
  await store.close()
})

const reject = async (input: unknown) => {
  try {
    await registry.submit(input)
  } catch (err) {
    if (isQantaraError(err, 'RECORD_REJECTED')) return err.details!.split(':')[0]
    throw err
  }
  return 'ACCEPTED'
}

describe('provider registry', () => {
  it('accepts a record its own URL serves back, and lists it with filters', async () => {
    expect(await reject(agent.record)).toBe('ACCEPTED')
    expect((await registry.list({ gpu: 'h100', minVramMiB: 80_000 })).map((r) => r.record.providerId)).toEqual([agent.record.record.providerId])
    expect(await registry.list({ minVramMiB: 100_000 })).toEqual([])
    expect(await registry.list({ chain: 'eip155:31337', token: 'native', maxPricePerSlot: 999n })).toEqual([])
    const res = await fetch(`${apiUrl}/v1/providers?gpu=H100&maxPricePerSlot=1000&chain=eip155:31337&token=native`)
    expect(((await res.json()) as { providers: SignedProviderRecord[] }).providers).toHaveLength(1)
  })

  it('refuses an older record replayed over a newer one', async () => {
    const old = agent.record
    agent.refreshRecord()
    expect(await reject(agent.record)).toBe('ACCEPTED')
    expect(await reject(old)).toBe('STALE_SEQ')
    expect((await registry.get(old.record.providerId))?.seq).toBe(agent.record.record.seq)
  })

  it('refuses a record whose URL serves a different key', async () => {
    const impostor = generateEd25519().signer
    const record = { ...agent.record.record, providerId: impostor.publicKey, seq: 1 }
    expect(await reject({ record, signature: impostor.sign(providerRecordBytes(record)) })).toBe('ENDPOINT_MISMATCH')
    expect(await registry.get(impostor.publicKey)).toBeUndefined()
  })

  it('refuses a forged signature, an expired record and a malformed one', async () => {
    const record = { ...agent.record.record, seq: agent.record.record.seq + 10 }
    expect(await reject({ record, signature: generateEd25519().signer.sign(providerRecordBytes(record)) })).toBe('BAD_SIGNATURE')
    const signer = generateEd25519().signer
    const expired = { ...record, providerId: signer.publicKey, expiresAt: 1_000 }
    expect(await reject({ record: expired, signature: signer.sign(providerRecordBytes(expired)) })).toBe('EXPIRED')
    expect(await reject({ record: { ...record, url: 'ftp://x' }, signature: agent.record.signature })).toBe('MALFORMED')
  })

  it('refuses a record whose endpoint serves garbage or redirects', async () => {
    const hostile = await startHostileAgent()
    const signer = generateEd25519().signer
    const record = { ...agent.record.record, providerId: signer.publicKey, url: hostile.url, seq: 1 }
    const signed = { record, signature: signer.sign(providerRecordBytes(record)) }
    hostile.set((_q, res) => res.writeHead(200).end('<html>'))
    expect(await reject(signed)).toBe('ENDPOINT_MISMATCH')
    hostile.set((_q, res) => res.writeHead(301, { location: agentUrl }).end())
    expect(await reject(signed)).toBe('ENDPOINT_REFUSED')
    await hostile.close()
  })

  it('answers a 10 MB POST with 413 and invalid JSON with 400, and keeps serving', async () => {
    const big = await fetch(`${apiUrl}/v1/providers`, { method: 'POST', body: Buffer.alloc(10 * 1024 * 1024, 0x20) }).catch((e: unknown) => e)
    expect(big instanceof Response ? big.status : 'connection cut').toSatisfy((s: unknown) => s === 413 || s === 'connection cut')
    const bad = await fetch(`${apiUrl}/v1/providers`, { method: 'POST', body: '{"record": ' })
    expect([bad.status, ((await bad.json()) as { error: string }).error]).toEqual([400, 'MALFORMED'])
    expect((await fetch(`${apiUrl}/healthz`)).status).toBe(200)
    const metrics = await (await fetch(`${apiUrl}/metrics`)).text()
    expect(metrics).toContain('qantara_provider_records_rejected_total{code="MALFORMED"} 1')
  })

  it('serves the agent\'s record as canonical JSON at /v1/provider', async () => {
    const served = await (await fetch(`${agentUrl}/v1/provider`)).text()
    expect(served).toBe(canonicalJson(agent.record))
  })
})
