import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { ProviderAgent } from '../src/agent/server.js'
import { createApiServer, type RelayerView } from '../src/api/server.js'
import { canonicalJson } from '../src/canonicalJson.js'
import { generateEd25519 } from '../src/ed25519.js'
import { isQantaraError } from '../src/errors.js'
import { createSafeHttp } from '../src/http/safeHttp.js'
import { silentLogger } from '../src/log.js'
import { createMetrics } from '../src/metrics.js'
import { providerRecordBytes, type SignedProviderRecord } from '../src/registry/record.js'
import { ProviderRegistry } from '../src/registry/registry.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { startHostileAgent } from './support/hostileAgent.js'
import { FORGED_SIGNATURE, ZERO_KEY, forgeable } from './support/smallOrderForgery.js'
import { NO_PROVIDER } from '../src/vault/refund.js'

// The registry's routes read nothing of the relayer: a view with no chains.
const RELAYER_VIEW: RelayerView = {
  health: () => Promise.resolve({ ready: true, chains: {}, store: true }),
  slotStatus: () => Promise.resolve(''),
  live: () => true,
  status: () => Promise.reject(new Error('no relayer status in this test')),
  settlementContext: () => Promise.resolve({ threshold: 1 }),
}

const logger = silentLogger()
const httpOptions = { timeoutMs: 2_000, maxBytes: 64 * 1024, allowPrivate: true }
const gpus = [{ name: 'NVIDIA H100 80GB HBM3', memoryTotalMiB: 81559, uuid: 'GPU-1' }]
let agent: ProviderAgent
let agentUrl: string
let store: SqliteStore
let registry: ProviderRegistry
let api: Server
let apiUrl: string
let metrics: ReturnType<typeof createMetrics>

async function listen(server: Server): Promise<string> {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function newAgent(url?: string) {
  const signer = generateEd25519().signer
  return new ProviderAgent({
    signer,
    recordTtlSeconds: 3600,
    telemetry: () => Promise.resolve({ gpus: null, unavailable: 'none' }),
    rateLimit: { perSecond: 100, burst: 100 },
    logger,
    record: {
      url: url ?? 'http://placeholder',
      gpus,
      payout: { 'eip155:31337': '0x00000000000000000000000000000000000000aa' },
      prices: [
        {
          chain: 'eip155:31337',
          token: 'native',
          gpuClass: 'cpu-reference',
          perSlot: '1000',
          slotLength: 60,
        },
      ],
    },
  })
}

beforeAll(async () => {
  // The agent must advertise its own URL, which is known only once it listens.
  const probe = newAgent()
  agentUrl = await listen(probe.server)
  await new Promise<void>((ok) => probe.server.close(() => ok()))
  agent = newAgent(agentUrl)
  await new Promise<void>((ok) =>
    agent.server.listen(Number(new URL(agentUrl).port), '127.0.0.1', () => ok()),
  )
  store = new SqliteStore(':memory:')
  registry = new ProviderRegistry({ store, http: createSafeHttp(httpOptions), httpOptions, logger })
  const relayer = RELAYER_VIEW
  metrics = createMetrics()
  api = createApiServer({
    store,
    relayer,
    registry,
    metrics,
    registrations: { perMinute: 6_000, burst: 1_000 },
    logger,
  })
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
    if (isQantaraError(err, 'RECORD_REJECTED')) return err.context.reason
    throw err
  }
  return 'ACCEPTED'
}

/** A record of a fresh key expiring at `expiresAt`, served by its own loopback endpoint, which counts how often it is fetched. */
async function servedRecord(expiresAt: number) {
  const endpoint = await startHostileAgent()
  const signer = generateEd25519().signer
  const record = {
    ...agent.record.record,
    providerId: signer.publicKey,
    url: endpoint.url,
    seq: 1,
    expiresAt,
  }
  const signed = { record, signature: signer.sign(providerRecordBytes(record)) }
  const served = {
    signed,
    fetches: 0,
    close: () => endpoint.close(),
    /** Signs and serves the next seq, expiring at `at`. */
    refresh: (at: number) => {
      const next = { ...record, seq: record.seq + 1, expiresAt: at }
      const body = { record: next, signature: signer.sign(providerRecordBytes(next)) }
      served.serve(body)
      return body
    },
    serve: (body: unknown) =>
      endpoint.set((_q, res) => {
        served.fetches++
        res.writeHead(200, { 'content-type': 'application/json' }).end(canonicalJson(body))
      }),
  }
  served.serve(signed)
  return served
}

describe('provider registry', () => {
  it('accepts a record its own URL serves back, and lists it with filters', async () => {
    expect(await reject(agent.record)).toBe('ACCEPTED')
    expect(
      (await registry.list({ gpu: 'h100', minVramMiB: 80_000 })).map((r) => r.record.providerId),
    ).toEqual([agent.record.record.providerId])
    expect(await registry.list({ minVramMiB: 100_000 })).toEqual([])
    expect(await registry.list({ chain: 'eip155:31337', token: 'native', maxPricePerSlot: 999n })).toEqual([])
    const res = await fetch(
      `${apiUrl}/v1/providers?gpu=H100&maxPricePerSlot=1000&chain=eip155:31337&token=native`,
    )
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
    expect(await reject({ record, signature: impostor.sign(providerRecordBytes(record)) })).toBe(
      'ENDPOINT_MISMATCH',
    )
    expect(await registry.get(impostor.publicKey)).toBeUndefined()
  })

  it('refuses a forged signature, an expired record and a malformed one', async () => {
    const record = { ...agent.record.record, seq: agent.record.record.seq + 10 }
    expect(
      await reject({ record, signature: generateEd25519().signer.sign(providerRecordBytes(record)) }),
    ).toBe('BAD_SIGNATURE')
    const signer = generateEd25519().signer
    const expired = { ...record, providerId: signer.publicKey, expiresAt: 1_000 }
    expect(await reject({ record: expired, signature: signer.sign(providerRecordBytes(expired)) })).toBe(
      'EXPIRED',
    )
    expect(await reject({ record: { ...record, url: 'ftp://x' }, signature: agent.record.signature })).toBe(
      'MALFORMED',
    )
  })

  it("refuses a record for a small-order key whose forged signature OpenSSL accepts, served by its own endpoint, and any record for the refund orders' provider id", async () => {
    const hostile = await startHostileAgent()
    // The attacker's record under the all-zero key (the refund orders' provider id before the fix): a seq whose bytes R = identity, S = 0 forges.
    const seqs = Array.from({ length: 64 }, (_, i) => 1_000 + i)
    const record = (seq: number, providerId: string = ZERO_KEY) => ({
      ...agent.record.record,
      providerId,
      url: hostile.url,
      seq,
    })
    const seq = forgeable(seqs, (n) => providerRecordBytes(record(n)))
    const forged = { record: record(seq), signature: FORGED_SIGNATURE }
    hostile.set((_q, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(canonicalJson(forged)),
    )
    expect(await reject(forged)).toBe('BAD_KEY')
    const refundProvider = { record: record(seq, NO_PROVIDER), signature: FORGED_SIGNATURE }
    hostile.set((_q, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(canonicalJson(refundProvider)),
    )
    expect(await reject(refundProvider)).toBe('BAD_KEY')
    expect([
      await registry.get(ZERO_KEY),
      await registry.get(NO_PROVIDER),
      await store.getProvider(ZERO_KEY),
      await store.getProvider(NO_PROVIDER),
    ]).toEqual([undefined, undefined, undefined, undefined])
    await hostile.close()
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
    const big = await fetch(`${apiUrl}/v1/providers`, {
      method: 'POST',
      body: Buffer.alloc(10 * 1024 * 1024, 0x20),
    }).catch((e: unknown) => e)
    expect(big instanceof Response ? big.status : 'connection cut').toSatisfy(
      (s: unknown) => s === 413 || s === 'connection cut',
    )
    const bad = await fetch(`${apiUrl}/v1/providers`, { method: 'POST', body: '{"record": ' })
    expect([bad.status, ((await bad.json()) as { error: string }).error]).toEqual([400, 'MALFORMED'])
    expect((await fetch(`${apiUrl}/healthz`)).status).toBe(200)
    expect((await fetch(`${apiUrl}/metrics`)).status).toBe(404)
    expect(
      await metrics.registry.getSingleMetricAsString('qantara_provider_records_rejected_total'),
    ).toContain('qantara_provider_records_rejected_total{code="MALFORMED"} 1')
  })

  it("refuses a record URL with a path, query, fragment or credentials: probes go to an agent's origin only", async () => {
    const signer = generateEd25519().signer
    for (const url of [`${agentUrl}/admin`, `${agentUrl}?x=1`, `${agentUrl}#f`, 'http://user@127.0.0.1:9']) {
      const record = { ...agent.record.record, providerId: signer.publicKey, url, seq: 1 }
      expect(await reject({ record, signature: signer.sign(providerRecordBytes(record)) })).toBe('MALFORMED')
    }
  })

  it('rate-limits registrations per address: past the burst, 429 and no outbound fetch', async () => {
    const limited = createApiServer({
      store,
      relayer: RELAYER_VIEW,
      registry,
      metrics,
      registrations: { perMinute: 1, burst: 2 },
      logger,
    })
    const url = await listen(limited)
    try {
      const statuses = []
      for (let i = 0; i < 4; i++)
        statuses.push((await fetch(`${url}/v1/providers`, { method: 'POST', body: '{}' })).status)
      expect(statuses).toEqual([400, 400, 429, 429])
    } finally {
      await new Promise((ok) => limited.close(ok))
    }
  })

  it("lets a configured origin's pages read the API, not write to it, and no other origin read it", async () => {
    const cors = createApiServer({
      store,
      relayer: RELAYER_VIEW,
      registry,
      metrics,
      registrations: { perMinute: 6_000, burst: 1_000 },
      corsOrigins: ['https://market.example.org'],
      logger,
    })
    const url = await listen(cors)
    try {
      const preflight = await fetch(`${url}/v1/providers`, {
        method: 'OPTIONS',
        headers: { origin: 'https://market.example.org', 'access-control-request-method': 'GET' },
      })
      expect(preflight.status).toBe(204)
      expect(preflight.headers.get('access-control-allow-origin')).toBe('https://market.example.org')
      expect(preflight.headers.get('access-control-allow-methods')).toBe('GET')
      const read = await fetch(`${url}/v1/providers`, { headers: { origin: 'https://market.example.org' } })
      expect([read.status, read.headers.get('access-control-allow-origin')]).toEqual([
        200,
        'https://market.example.org',
      ])
      const stranger = await fetch(`${url}/v1/providers`, { headers: { origin: 'https://evil.example' } })
      expect(stranger.headers.get('access-control-allow-origin')).toBeNull()
      // A form post needs no preflight: the relayer itself refuses a write from another origin's page.
      const write = await fetch(`${url}/v1/providers`, {
        method: 'POST',
        headers: { origin: 'https://market.example.org', 'content-type': 'text/plain' },
        body: JSON.stringify(agent.record),
      })
      expect([write.status, ((await write.json()) as { error: string }).error]).toEqual([403, 'CROSS_ORIGIN'])
    } finally {
      await new Promise((ok) => cors.close(ok))
    }
  })

  it('refuses a record expiring more than 7 days ahead, which would hold its place without being signed again, before fetching anything', async () => {
    const now = Math.floor(Date.now() / 1000)
    const far = await servedRecord(now + 7 * 86_400 + 3_600)
    const forever = await servedRecord(32_503_680_000)
    const week = await servedRecord(now + 7 * 86_400)
    try {
      expect([await reject(far.signed), await reject(forever.signed), await reject(week.signed)]).toEqual([
        'EXPIRES_TOO_LATE',
        'EXPIRES_TOO_LATE',
        'ACCEPTED',
      ])
      expect([far.fetches, forever.fetches]).toEqual([0, 0])
      expect([
        await store.getProvider(far.signed.record.providerId),
        await store.getProvider(forever.signed.record.providerId),
      ]).toEqual([undefined, undefined])
    } finally {
      await Promise.all([far.close(), forever.close(), week.close()])
    }
  })

  it('when full, lets a new record take the place of the one expiring soonest, never of one that outlives it, and drops expired ones first', async () => {
    let listings = 0
    const small = new SqliteStore(':memory:')
    // The real store, counting full listings: a full registry must not list and parse every record per submission.
    const counted = new Proxy(small, {
      get: (t, k) =>
        k === 'listProviders' ? () => (listings++, t.listProviders()) : (Reflect.get(t, k, t) as unknown),
    })
    let now = Math.floor(Date.now() / 1000)
    const capped = new ProviderRegistry({
      store: counted,
      http: createSafeHttp(httpOptions),
      httpOptions,
      logger,
      maxProviders: 3,
      nowSeconds: () => now,
    })
    const submit = (signed: unknown) =>
      capped.submit(signed).then(
        () => 'ACCEPTED',
        (e: unknown) => (isQantaraError(e, 'RECORD_REJECTED') ? e.context.reason : e),
      )
    const stored = async () => (await small.listProviders()).map((p) => p.providerId).sort()
    // A byzantine peer's burst fills the registry with records of its own keys, served by its own endpoints.
    const filler = await Promise.all([1, 2, 3].map((days) => servedRecord(now + days * 86_400)))
    const shortLived = await servedRecord(now + 12 * 3_600)
    const honest = await servedRecord(now + 7 * 86_400)
    const lying = await servedRecord(now + 7 * 86_400)
    lying.serve(filler[2]!.signed)
    try {
      for (const f of filler) expect(await submit(f.signed)).toBe('ACCEPTED')
      expect(await submit(shortLived.signed)).toBe('REGISTRY_FULL')
      expect(shortLived.fetches).toBe(0)
      // An endpoint that does not serve the record evicts nobody.
      expect(await submit(lying.signed)).toBe('ENDPOINT_MISMATCH')
      expect(await stored()).toEqual(filler.map((f) => f.signed.record.providerId).sort())
      expect(await submit(honest.signed)).toBe('ACCEPTED')
      expect(await stored()).toEqual(
        [filler[1]!, filler[2]!, honest].map((f) => f.signed.record.providerId).sort(),
      )
      expect(await capped.get(filler[0]!.signed.record.providerId)).toBeUndefined()
      // A refresh of a stored provider needs no place, even one expiring sooner than every other record.
      expect(await submit(filler[1]!.refresh(now + 6 * 3_600))).toBe('ACCEPTED')
      expect(await stored()).toEqual(
        [filler[1]!, filler[2]!, honest].map((f) => f.signed.record.providerId).sort(),
      )
      // Once a record has expired, a new one takes its place, whatever it outlives.
      now += 6 * 3_600 + 1
      const later = await servedRecord(now + 3_600)
      expect(await submit(later.signed)).toBe('ACCEPTED')
      expect(await stored()).toEqual(
        [filler[2]!, honest, later].map((f) => f.signed.record.providerId).sort(),
      )
      await later.close()
      expect(listings).toBe(1)
    } finally {
      await Promise.all([...filler, shortLived, honest, lying].map((f) => f.close()))
      await small.close()
    }
  })

  it('pages the provider list with a cursor', async () => {
    const first = (await (await fetch(`${apiUrl}/v1/providers?limit=1`)).json()) as {
      providers: SignedProviderRecord[]
      next: string | null
    }
    expect(first.providers).toHaveLength(1)
    expect(first.next).toBe(first.providers[0]!.record.providerId)
    const rest = (await (await fetch(`${apiUrl}/v1/providers?limit=1000&cursor=${first.next}`)).json()) as {
      providers: SignedProviderRecord[]
      next: string | null
    }
    expect(rest.providers.every((p) => p.record.providerId > first.next!)).toBe(true)
    expect(rest.next).toBeNull()
    expect((await fetch(`${apiUrl}/v1/providers?limit=0`)).status).toBe(400)
  })

  it("serves the agent's record as canonical JSON at /v1/provider", async () => {
    const served = await (await fetch(`${agentUrl}/v1/provider`)).text()
    expect(served).toBe(canonicalJson(agent.record))
  })
})
