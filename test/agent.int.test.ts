import { REFERENCE_ORDER_GPU, referenceGpu } from '../devkit/gpu/referenceGpu.js'
import { request } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { agentConfigSchema } from '../src/agent/config.js'
import { cpuReferenceProver, type ComputeProver } from '../src/agent/prover.js'
import { createAgentMetrics, type AgentMetrics } from '../src/agent/metrics.js'
import { ProviderAgent } from '../src/agent/server.js'
import { readGpuTelemetry, type Telemetry } from '../src/agent/telemetry.js'
import { ComputeChallenges } from '../src/relay/computeChallenge.js'
import { revealBytes } from '../src/gpu/transcript.js'
import type { SignedHeartbeat } from '../src/heartbeat/schema.js'
import { canonicalJson } from '../src/canonicalJson.js'
import { generateEd25519, type Ed25519Signer } from '../src/ed25519.js'
import { ChallengeBook } from '../src/heartbeat/challenges.js'
import { createSafeHttp } from '../src/http/safeHttp.js'
import { silentLogger } from '../src/log.js'
import { createMetrics } from '../src/metrics.js'
import type { OrderTerms } from '../src/order.js'
import { ProviderRegistry } from '../src/registry/registry.js'
import { Prober } from '../src/relay/prober.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { listen } from './support/inProcessRelayer.js'

const logger = silentLogger()
const HTTP = { timeoutMs: 2_000, maxBytes: 64 * 1024, allowPrivate: true }
const CHAIN = 'eip155:31337'
const PAYOUT = '0x00000000000000000000000000000000000000aa'
const provider = generateEd25519().signer
const quorumRelayer = generateEd25519().signer
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

/** A real agent on loopback, counting what it signs (records aside) and how often it reads telemetry. */
async function startAgent(
  o: {
    relayerKeys?: string[]
    addressRateLimit?: { perSecond: number; burst: number }
    prover?: ComputeProver
    computeRateLimit?: { perSecond: number; burst: number }
    /** GPUs the record offers, each the reference device with its own UUID. */
    gpus?: number
    /** What nvidia-smi reads; by default, no GPU. */
    telemetry?: () => Promise<Telemetry>
    metrics?: AgentMetrics
  } = {},
) {
  const { gpus = 1, telemetry, ...options } = o
  const counts = { signs: 0, telemetry: 0 }
  const signer: Ed25519Signer = {
    publicKey: provider.publicKey,
    sign: (m) => (counts.signs++, provider.sign(m)),
  }
  const record = {
    url: 'http://127.0.0.1',
    gpus: Array.from({ length: gpus }, (_, i) => {
      const g = referenceGpu(i)
      return { name: g.name, uuid: g.uuid, memoryTotalMiB: g.memoryTotalMiB }
    }),
    payout: { [CHAIN]: PAYOUT },
    prices: [{ chain: CHAIN, token: 'native', gpuClass: 'cpu-reference', perSlot: '100', slotLength: 60 }],
  }
  const agent = new ProviderAgent({
    signer,
    record,
    recordTtlSeconds: 3_600,
    rateLimit: { perSecond: 50, burst: 50 },
    logger,
    ...options,
    telemetry: () => (
      counts.telemetry++,
      telemetry?.() ?? Promise.resolve({ gpus: null, unavailable: 'no GPU in this test' })
    ),
  })
  record.url = await listen(agent.server)
  agent.refreshRecord()
  counts.signs = 0
  closers.push(async () => {
    agent.server.closeAllConnections()
    await new Promise((ok) => agent.server.close(ok))
  })
  return { agent, url: record.url, counts }
}

/** POSTs a challenge signed by a fresh key (or `identity`) for `orderId`, from `localAddress`; resolves to the status. */
function challenge(
  url: string,
  orderId: string,
  identity: Ed25519Signer = generateEd25519().signer,
  localAddress = '127.0.0.1',
): Promise<number> {
  const body = canonicalJson(new ChallengeBook('stranger', identity, 60_000).issue(orderId, 0, Date.now()))
  return send(url, '/v1/heartbeat', 'POST', body, localAddress)
}

function send(
  url: string,
  path: string,
  method: string,
  body: string | undefined,
  localAddress: string,
): Promise<number> {
  return new Promise((ok, fail) => {
    const req = request(`${url}${path}`, { method, localAddress, agent: false }, (res) => {
      res.resume()
      res.on('end', () => ok(res.statusCode!))
    })
    req.on('error', fail)
    req.end(body)
  })
}

const orderId = (i: number) => `0x${i.toString(16).padStart(64, '0')}`

const ORDER: OrderTerms = {
  id: orderId(0) as `0x${string}`,
  chain: CHAIN,
  renter: '0x01',
  token: 'native',
  amount: 1_000n,
  providerId: provider.publicKey,
  payout: PAYOUT,
  start: 0n,
  slotLength: 60,
  slots: 10,
  gpu: REFERENCE_ORDER_GPU,
}

/** A relayer of the quorum that sends a compute challenge in every slot, with its own store and registry. */
async function computeProber(
  agent: ProviderAgent,
  o: { perMillion?: number; store?: SqliteStore } = {},
): Promise<{ prober: Prober; store: SqliteStore }> {
  const store = o.store ?? new SqliteStore(':memory:')
  if (!o.store) closers.push(() => store.close())
  const http = createSafeHttp(HTTP)
  const registry = new ProviderRegistry({ store, http, httpOptions: HTTP, logger })
  // A shared store already holds the record: the registry reads it from there.
  if (!o.store) await registry.submit(agent.record)
  const compute = new ComputeChallenges({
    relayerId: 'r1',
    identity: quorumRelayer,
    perMillion: o.perMillion ?? 1_000_000,
    store,
    http,
    httpOptions: HTTP,
    logger,
  })
  const prober = new Prober({
    relayerId: 'r1',
    identity: quorumRelayer,
    relayerKeys: new Map([['r1', quorumRelayer.publicKey]]),
    store,
    registry,
    http,
    httpOptions: HTTP,
    concurrency: 2,
    perHostConcurrency: 2,
    maxSkewMs: 30_000,
    metrics: createMetrics(),
    logger,
    compute,
  })
  return { prober, store }
}

describe('provider agent under a flood', () => {
  it('says at /healthz what keeps it from being paid: no GPU telemetry (the real reader, on a host without nvidia-smi), or a GPU of its record that nvidia-smi does not see', async () => {
    const health = async (url: string) => {
      const res = await fetch(`${url}/healthz`)
      return { status: res.status, body: await res.json() }
    }
    const noSmi = await startAgent({ telemetry: () => readGpuTelemetry('/nonexistent/nvidia-smi') })
    const none = await health(noSmi.url)
    expect(none.status).toBe(503)
    expect(none.body).toMatchObject({
      ok: false,
      gpus: 0,
      missing: [expect.stringMatching(/^no GPU telemetry: /)],
    })
    const oneOfTwo = await startAgent({
      gpus: 2,
      telemetry: () => Promise.resolve({ gpus: [referenceGpu(0)] }),
    })
    expect(await health(oneOfTwo.url)).toEqual({
      status: 503,
      body: {
        ok: false,
        gpus: 1,
        missing: [
          `GPU ${referenceGpu(1).uuid} (${referenceGpu(1).name}) in the record is not seen by nvidia-smi`,
        ],
      },
    })
    const all = await startAgent({ gpus: 1, telemetry: () => Promise.resolve({ gpus: [referenceGpu(0)] }) })
    expect(await health(all.url)).toEqual({ status: 200, body: { ok: true, gpus: 1 } })
  })
  it("refuses a challenge from a key outside relayerKeys with 403 before signing or keeping anything, and answers the quorum's prober", async () => {
    const { agent, url, counts } = await startAgent({
      relayerKeys: [quorumRelayer.publicKey.toUpperCase().replace('0X', '0x')],
    })
    // The attack: fresh keys and order ids, each a new (key, order) the per-relayer limit has never seen.
    const statuses = await Promise.all(Array.from({ length: 40 }, (_, i) => challenge(url, orderId(i))))
    expect(new Set(statuses)).toEqual(new Set([403]))
    expect(counts).toEqual({ signs: 0, telemetry: 0 })

    // A relayer of the quorum, probing through a real registry and prober, gets its heartbeat.
    const store = new SqliteStore(':memory:')
    closers.push(() => store.close())
    const http = createSafeHttp(HTTP)
    const registry = new ProviderRegistry({ store, http, httpOptions: HTTP, logger })
    await registry.submit(agent.record)
    const prober = (id: string, identity: Ed25519Signer) =>
      new Prober({
        relayerId: id,
        identity,
        relayerKeys: new Map([[id, identity.publicKey]]),
        store,
        registry,
        http,
        httpOptions: HTTP,
        concurrency: 2,
        perHostConcurrency: 2,
        maxSkewMs: 30_000,
        metrics: createMetrics(),
        logger,
      })
    const order: OrderTerms = {
      ...ORDER,
      id: orderId(999) as `0x${string}`,
      start: BigInt(Math.floor(Date.now() / 1000) - 30),
    }
    expect(await prober('r1', quorumRelayer).probeOnce(order, 0)).toBe('OK')
    expect(await store.listHeartbeats(order.id)).toHaveLength(1)
    expect(counts).toEqual({ signs: 1, telemetry: 1 })
    // A relayer outside the list, however honest its prober, is not answered.
    expect(await prober('r9', generateEd25519().signer).probeOnce(order, 0)).toBe('HTTP_ERROR')
    expect(counts).toEqual({ signs: 1, telemetry: 1 })
  })

  it('computes only for a compute challenge that follows its heartbeat of the slot to that relayer, and once per relayer, order and slot', async () => {
    const honest = cpuReferenceProver()
    let commits = 0
    const prover: ComputeProver = {
      ...honest,
      commit: (seed, n, device, holder) => (commits++, honest.commit(seed, n, device, holder)),
    }
    const { agent, url } = await startAgent({ relayerKeys: [quorumRelayer.publicKey], prover })
    const order = {
      ...ORDER,
      id: orderId(7) as `0x${string}`,
      start: BigInt(Math.floor(Date.now() / 1000) - 30),
    }
    const computeChallenge = (follows: string) =>
      canonicalJson(
        new ChallengeBook('r1', quorumRelayer, 60_000).issue(order.id, 0, Date.now(), {
          n: 96,
          count: 1,
          follows,
        }),
      )
    // A check before the provider is on record as there: no GPU work, whatever it names.
    expect(
      await send(url, '/v1/heartbeat', 'POST', computeChallenge(`0x${'ab'.repeat(64)}`), '127.0.0.1'),
    ).toBe(409)
    expect(commits).toBe(0)

    const { prober, store } = await computeProber(agent)
    expect(await prober.probeOnce(order, 0)).toBe('COMPUTE_PASSED')
    // The relayer keeps the checked heartbeat, which names the plain one the provider signed first.
    const kept = (await store.listHeartbeats(order.id)).map((h) => JSON.parse(h.body) as SignedHeartbeat)
    expect(kept).toHaveLength(1)
    const follows = kept[0]!.heartbeat.challenge.challenge.compute!.follows
    expect(kept[0]!.heartbeat.commitment).toMatch(/^0x[0-9a-f]{64}$/)
    expect((await store.listHeartbeatKeys(order.id)).map((h) => h.compute)).toEqual(['passed'])
    // Another check of the slot, naming the right heartbeat: answered from what was signed, no second product.
    expect(await send(url, '/v1/heartbeat', 'POST', computeChallenge(follows), '127.0.0.1')).toBe(200)
    expect(commits).toBe(1)
  })

  it("bounds a relayer's GPU work: one product per GPU at once, none for a challenge issued long ago, and a retry during a commit gets the same bytes", async () => {
    const honest = cpuReferenceProver()
    let commits = 0
    const slow: ComputeProver = {
      ...honest,
      commit: async (seed, n, device, holder) => {
        commits++
        await new Promise((ok) => setTimeout(ok, 300))
        return honest.commit(seed, n, device, holder)
      },
    }
    const { url } = await startAgent({ relayerKeys: [quorumRelayer.publicKey], prover: slow })
    const book = new ChallengeBook('r1', quorumRelayer, 60_000)
    const id = orderId(40)
    const post = async (body: unknown) => {
      const res = await fetch(`${url}/v1/heartbeat`, { method: 'POST', body: canonicalJson(body) })
      return { status: res.status, body: await res.text() }
    }
    const present = async (slot: number) =>
      (JSON.parse((await post(book.issue(id, slot, Date.now()))).body) as SignedHeartbeat).signature
    const [s0, s1, s2] = [await present(0), await present(1), await present(2)]
    const check = (slot: number, follows: string, issuedAt = Date.now()) =>
      post(book.issue(id, slot, issuedAt, { n: 96, count: 1, follows }))
    const committing = check(0, s0)
    // While that commit runs (300 ms): a retry of it, and another slot's check.
    await new Promise((ok) => setTimeout(ok, 100))
    const [retry, other] = await Promise.all([check(0, s0), check(1, s1)])
    const first = await committing
    expect([first.status, retry.status, other.status]).toEqual([200, 200, 429])
    expect(retry.body).toBe(first.body)
    expect(JSON.parse(other.body)).toEqual({ error: 'BUSY' })
    const stale = await check(2, s2, Date.now() - 120_000)
    expect([stale.status, JSON.parse(stale.body)]).toEqual([400, { error: 'STALE_CHALLENGE' }])
    // Two products asked of a one-GPU host: refused, whatever the order says.
    const two = await post(book.issue(id, 2, Date.now(), { n: 96, count: 2, follows: s2 }))
    expect([two.status, JSON.parse(two.body)]).toEqual([409, { error: 'TOO_MANY_GPUS' }])
    // Over all orders, three checks at once per GPU, then one every 20 s: made-up orders buy no more GPU time.
    const more = []
    for (let k = 0; k < 3; k++) {
      const other = orderId(41 + k)
      const plain = await post(book.issue(other, 0, Date.now()))
      const follows = (JSON.parse(plain.body) as SignedHeartbeat).signature
      more.push((await post(book.issue(other, 0, Date.now(), { n: 96, count: 1, follows }))).status)
    }
    expect(more).toEqual([200, 200, 429])
    expect(commits).toBe(3)
  })

  it("keeps an honest relayer's commitment however many checks another relayer makes up (orders, slots), or it makes of another order, in between", async () => {
    const byzantine = generateEd25519().signer
    // No budget in the way: what is tested is that the commitments are kept apart, however many.
    const { url } = await startAgent({
      relayerKeys: [quorumRelayer.publicKey, byzantine.publicKey],
      prover: cpuReferenceProver(),
      computeRateLimit: { perSecond: 1_000, burst: 1_000 },
    })
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${url}${path}`, { method: 'POST', body: canonicalJson(body) })
      return { status: res.status, body: await res.text() }
    }
    const checkOf = async (book: ChallengeBook, id: string, slot: number) => {
      const plain = (await post('/v1/heartbeat', book.issue(id, slot, Date.now()))).body
      const follows = (JSON.parse(plain) as SignedHeartbeat).signature
      const checked = await post(
        '/v1/heartbeat',
        book.issue(id, slot, Date.now(), { n: 96, count: 1, follows }),
      )
      return JSON.parse(checked.body) as SignedHeartbeat
    }
    const book = new ChallengeBook('r1', quorumRelayer, 60_000)
    const honest = await checkOf(book, orderId(50), 3)
    const root = honest.heartbeat.commitment!
    // The same relayer checking another order on the same GPU meanwhile (their closing slots, say) keeps both.
    expect((await checkOf(book, orderId(51), 3)).heartbeat.commitment).toBeTruthy()
    const made = new ChallengeBook('r9', byzantine, 60_000)
    // More than any shared pool of commitments would hold (the CPU reference once kept 48 in all).
    for (let k = 0; k < 60; k++)
      expect((await checkOf(made, orderId(60 + k), 1_000 + k)).heartbeat.commitment).toBeTruthy()
    const reveal = quorumRelayer.sign(revealBytes(honest.heartbeat.challenge.signature, root))
    const answered = await post('/v1/reveal', { challenge: honest.heartbeat.challenge, root, reveal })
    expect(answered.status).toBe(200)
    expect((JSON.parse(answered.body) as { rows: unknown[] }).rows).toHaveLength(64)
  })

  it("lets a relayer restarted between the slot's heartbeat and its check still check the slot, on the heartbeat it got before", async () => {
    const { agent } = await startAgent({
      relayerKeys: [quorumRelayer.publicKey],
      prover: cpuReferenceProver(),
    })
    const { prober: before, store } = await computeProber(agent, { perMillion: 0 })
    const after = (await computeProber(agent, { store })).prober
    // Slot 0 of a ten-slot order: not a closing slot, so only the rate decides whether it is checked.
    const order: OrderTerms = {
      ...ORDER,
      id: orderId(70) as `0x${string}`,
      start: BigInt(Math.floor(Date.now() / 1000) - 30),
    }
    // Before the crash: the heartbeat is kept, and the check never went out.
    expect(await before.probeOnce(order, 0)).toBe('OK')
    // After it, a fresh book: the agent answers with the heartbeat it signed before, which the check then names.
    expect(await after.probeOnce(order, 0)).toBe('COMPUTE_PASSED')
    expect((await store.listHeartbeatKeys(order.id)).map((h) => h.compute)).toEqual(['passed'])
  })

  it('proves every GPU of a two-GPU order: a host that computes on one and copies its product for the other fails', async () => {
    const honest = cpuReferenceProver()
    let first: Uint8Array | undefined
    // Product 0 computed honestly; product 1 answered from product 0's C, as one GPU standing for two would.
    const oneGpu: ComputeProver = {
      commit: (seed, n, device, holder) =>
        honest.commit(device === 0 ? (first = seed) : first!, n, 0, holder),
      answer: (seed, n, revealSeed, device, holder) =>
        honest.answer(device === 0 ? seed : first!, n, revealSeed, 0, holder),
    }
    const results = []
    for (const prover of [honest, oneGpu]) {
      const { agent } = await startAgent({ relayerKeys: [quorumRelayer.publicKey], prover, gpus: 2 })
      const { prober, store } = await computeProber(agent)
      const order: OrderTerms = {
        ...ORDER,
        id: orderId(results.length + 20) as `0x${string}`,
        start: BigInt(Math.floor(Date.now() / 1000) - 30),
        gpu: { ...REFERENCE_ORDER_GPU, count: 2 },
        // The record prices each GPU: two of them cost twice one.
        amount: 2n * ORDER.amount,
      }
      results.push(await prober.probeOnce(order, 0))
      results.push((await store.listHeartbeatKeys(order.id)).map((h) => h.compute))
    }
    expect(results).toEqual(['COMPUTE_PASSED', ['passed'], 'COMPUTE_FAILED', ['failed']])
  })

  it('without relayerKeys, still answers any relayer (the list is opt-in)', async () => {
    const { url, counts } = await startAgent()
    expect(await challenge(url, orderId(1))).toBe(200)
    expect(counts.signs).toBe(1)
  })

  it('answers a flood from one address with 429 whatever keys and order ids it makes up, on every route, and serves another address', async () => {
    const { url, counts } = await startAgent({ addressRateLimit: { perSecond: 0.001, burst: 10 } })
    const statuses: number[] = []
    for (let i = 0; i < 30; i++) statuses.push(await challenge(url, orderId(i)))
    expect(statuses).toEqual([...Array<number>(10).fill(200), ...Array<number>(20).fill(429)])
    expect(counts).toEqual({ signs: 10, telemetry: 10 })
    expect(await send(url, '/v1/provider', 'GET', undefined, '127.0.0.1')).toBe(429)
    // Another source address has its own bucket.
    expect(await send(url, '/v1/provider', 'GET', undefined, '127.0.0.2')).toBe(200)
    expect(await challenge(url, orderId(100), generateEd25519().signer, '127.0.0.2')).toBe(200)
  })
})

describe('agent config', () => {
  const base = {
    key: { env: 'PROVIDER_KEY' },
    listen: '127.0.0.1:9000',
    publicUrl: 'https://gpu.example.org',
    payout: {},
    prices: [],
    prover: 'none',
  }

  it("requires relayerKeys with the GPU helper: only the quorum's relayers may set the renter's GPU to work", () => {
    const r = agentConfigSchema.safeParse({ ...base, prover: 'gpu-helper' })
    expect(r.success ? [] : r.error.issues.map((i) => i.path.join('.'))).toEqual(['relayerKeys'])
    expect(
      agentConfigSchema.safeParse({ ...base, prover: 'gpu-helper', relayerKeys: [`0x${'cd'.repeat(32)}`] })
        .success,
    ).toBe(true)
  })

  it('normalises btcScripts and relayerKeys to lower-case hex, and defaults the per-address limit', () => {
    const c = agentConfigSchema.parse({
      ...base,
      btcScripts: [`0x0014${'AB'.repeat(20)}`],
      relayerKeys: [`0x${'CD'.repeat(32)}`],
    })
    expect([c.btcScripts, c.relayerKeys, c.addressRateLimit]).toEqual([
      [`0014${'ab'.repeat(20)}`],
      [`0x${'cd'.repeat(32)}`],
      { perSecond: 50, burst: 200 },
    ])
    expect(agentConfigSchema.parse(base).relayerKeys).toBeUndefined()
  })

  it('refuses a record TTL over 7 days (relayers would refuse the record) and more than four BTC scripts', () => {
    const r = agentConfigSchema.safeParse({
      ...base,
      recordTtlSeconds: 7 * 86_400 + 1,
      btcScripts: Array(5).fill('0014'),
    })
    expect(r.success ? [] : r.error.issues.map((i) => i.path.join('.'))).toEqual([
      'btcScripts',
      'recordTtlSeconds',
    ])
    expect(agentConfigSchema.safeParse({ ...base, recordTtlSeconds: 7 * 86_400 }).success).toBe(true)
  })

  it('counts its answers by route and status, and reads each GPU into gauges when scraped', async () => {
    // The record offers two GPUs; nvidia-smi reads one, busy and warm.
    const busy = {
      ...referenceGpu(0),
      utilizationPct: 87,
      memoryUsedMiB: 2_048,
      temperatureC: 71,
      powerDrawMilliwatts: 250_500,
    }
    const telemetry = () => Promise.resolve({ gpus: [busy] })
    const metrics = createAgentMetrics({ telemetry, recordGpus: () => [busy.uuid, referenceGpu(1).uuid] })
    const { url } = await startAgent({ gpus: 2, relayerKeys: [quorumRelayer.publicKey], telemetry, metrics })
    expect(await challenge(url, `0x${'11'.repeat(32)}`)).toBe(403)
    expect(await send(url, '/healthz', 'GET', undefined, '127.0.0.1')).toBe(503)
    expect(await send(url, '/v1/provider', 'GET', undefined, '127.0.0.1')).toBe(200)
    const text = await metrics.registry.metrics()
    expect(text).toContain('qantara_agent_requests_total{route="heartbeat",status="403"} 1')
    expect(text).toContain('qantara_agent_requests_total{route="healthz",status="503"} 1')
    expect(text).toContain('qantara_agent_requests_total{route="provider",status="200"} 1')
    const gpu = `{uuid="${busy.uuid}",name="${busy.name}"}`
    expect(text).toContain(`qantara_agent_gpu_utilization_ratio${gpu} 0.87`)
    expect(text).toContain(`qantara_agent_gpu_memory_used_bytes${gpu} ${2_048 * 1024 * 1024}`)
    expect(text).toContain(`qantara_agent_gpu_temperature_celsius${gpu} 71`)
    expect(text).toContain(`qantara_agent_gpu_power_watts${gpu} 250.5`)
    expect(text).toContain('qantara_agent_gpus_missing 1')
  })
})
