import { REFERENCE_ORDER_GPU, referenceGpu, referenceNvidiaSmi } from '../devkit/gpu/referenceGpu.js'
// Probes per second against a local provider agent, beside a bare keep-alive
// HTTP loop to the same agent, measured in the same run.
// Run: npm run build && node dist/bench/probes.js
import { Agent, request } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import PQueue from 'p-queue'
import { writeFileSync } from 'node:fs'
import { stringify } from 'yaml'
import { launchQantara } from '../devkit/localMarket.js'
import { freePort } from '../devkit/freePort.js'
import { canonicalJson } from '../src/canonicalJson.js'
import { generateEd25519 } from '../src/ed25519.js'
import { ChallengeBook } from '../src/heartbeat/challenges.js'
import { createSafeHttp } from '../src/http/safeHttp.js'
import { silentLogger } from '../src/log.js'
import { createMetrics } from '../src/metrics.js'
import type { OrderTerms } from '../src/order.js'
import type { SignedProviderRecord } from '../src/registry/record.js'
import { ProviderRegistry } from '../src/registry/registry.js'
import { Prober } from '../src/relay/prober.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { PostgresStore } from '../src/store/postgres.js'
import pg from 'pg'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { startPostgres } from '../devkit/chains/postgres.js'
import { cpuMs } from './cpu.js'

const N = 3_000
const CONCURRENCY = 16
const logger = silentLogger()
const relayerSeed = generateEd25519()
const relayer = relayerSeed.signer

async function waitFor(url: string): Promise<Response> {
  for (let i = 0; i < 100; i++) {
    const res = await fetch(url).catch(() => undefined)
    if (res?.ok) return res
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${url} did not answer`)
}

// The agent runs as its own process, as it would beside a GPU host; this process is the relayer side.
const dir = mkdtempSync(join(tmpdir(), 'qantara-bench-'))
const seed = generateEd25519()
const provider = seed.signer
const port = await freePort()
writeFileSync(join(dir, 'provider.key'), `${seed.seed}\n`, { mode: 0o600 })
writeFileSync(
  join(dir, 'agent.yaml'),
  stringify({
    key: { file: join(dir, 'provider.key') },
    listen: `127.0.0.1:${port}`,
    publicUrl: `http://127.0.0.1:${port}`,
    payout: { 'eip155:31337': '0xp' },
    prices: [
      { chain: 'eip155:31337', token: 'native', gpuClass: 'cpu-reference', perSlot: '1', slotLength: 3600 },
    ],
    rateLimit: { perSecond: 1e9, burst: 1e9 },
    addressRateLimit: { perSecond: 1e9, burst: 1e9 },
    nvidiaSmi: referenceNvidiaSmi(dir, [referenceGpu()]).path,
    prover: 'none',
  }),
)
const agentProcess = launchQantara(['agent', '--config', join(dir, 'agent.yaml')], join(dir, 'agent.log'))
const url = `http://127.0.0.1:${port}`
const served = (await (await waitFor(`${url}/v1/provider`)).json()) as SignedProviderRecord
const store = new SqliteStore(join(dir, 'bench.sqlite'))
await store.putProvider(provider.publicKey, served.record.seq, canonicalJson(served), Date.now())
const httpOptions = { timeoutMs: 5_000, maxBytes: 16_384, allowPrivate: true, maxSockets: CONCURRENCY }
const http = createSafeHttp(httpOptions)
const registry = new ProviderRegistry({ store, http, httpOptions, logger })
const prober = new Prober({
  relayerId: 'r1',
  identity: relayer,
  relayerKeys: new Map([['r1', relayer.publicKey]]),
  store,
  registry,
  http,
  httpOptions,
  concurrency: CONCURRENCY,
  perHostConcurrency: CONCURRENCY,
  maxSkewMs: 60_000,
  metrics: createMetrics(),
  logger,
})

// Baseline: the same agent endpoint over raw keep-alive HTTP, same concurrency, challenges signed before the clock
// starts. Each names an order of its own, so the agent answers each in full (checks it, reads telemetry, signs a
// heartbeat) as it does a probe; a repeated challenge is answered from the agent's cache, for much less (the
// `cachedRate` row, kept for comparison with earlier runs, which measured that).
const baselineBook = new ChallengeBook('r1', relayer, 60_000)
const presigned = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) =>
    canonicalJson(baselineBook.issue(`0x${(from + i).toString(16).padStart(64, 'f')}`, 0, Date.now())),
  )
const keepAlive = new Agent({ keepAlive: true, maxSockets: CONCURRENCY })
const bare = (challenge: string) =>
  new Promise<void>((ok, fail) => {
    const req = request(
      `${url}/v1/heartbeat`,
      {
        method: 'POST',
        agent: keepAlive,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(challenge) },
      },
      (res) => {
        res.resume()
        res.on('end', () => (res.statusCode === 200 ? ok() : fail(new Error(`status ${res.statusCode}`))))
      },
    )
    req.on('error', fail)
    req.end(challenge)
  })

/** Wall time of `work`, and the CPU milliseconds each of `sides` spent meanwhile. */
async function timed<K extends string>(
  work: () => Promise<void>,
  sides: Record<K, () => number>,
): Promise<{ ms: number; cpu: Record<K, number> }> {
  const keys = Object.keys(sides) as K[]
  const before = keys.map((k) => sides[k]())
  const t = performance.now()
  await work()
  const ms = performance.now() - t
  return {
    ms,
    cpu: Object.fromEntries(keys.map((k, i) => [k, sides[k]() - before[i]!])) as Record<K, number>,
  }
}

const ownCpuMs = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}
const agentCpuMs = () => cpuMs([agentProcess.pid!])

/** `n` calls of `fn`, CONCURRENCY at a time: calls per second, and CPU µs per call on this side and the agent's. */
async function rate(n: number, fn: (i: number) => Promise<void>): Promise<Rate> {
  const q = new PQueue({ concurrency: CONCURRENCY })
  const { ms, cpu } = await timed(
    async () => {
      for (let i = 0; i < n; i++) void q.add(() => fn(i))
      await q.onIdle()
    },
    { relayer: ownCpuMs, agent: agentCpuMs },
  )
  return { perSecond: n / (ms / 1000), relayerUs: (cpu.relayer * 1000) / n, agentUs: (cpu.agent * 1000) / n }
}

interface Rate {
  perSecond: number
  /** CPU per probe of the relayer side: this process, or the worker processes. */
  relayerUs: number
  agentUs: number
  postgresUs?: number
}

const start = BigInt(Math.floor(Date.now() / 1000) - 1)
const order = (i: number): OrderTerms => ({
  id: `0x${i.toString(16).padStart(64, '0')}`,
  chain: 'eip155:31337',
  renter: '0xr',
  token: 'native',
  amount: 1n,
  providerId: provider.publicKey,
  payout: '0xp',
  start,
  slotLength: 3600,
  slots: 1,
  gpu: REFERENCE_ORDER_GPU,
})

// Both paths warmed up (the agent's and this process's code compiled) before either is timed.
const warmUp = presigned(10 * N, 1_000)
await rate(1_000, (i) => bare(warmUp[i]!))
await rate(1_000, async (i) => void (await prober.probeOnce(order(20 * N + i), 0)))
const fresh = presigned(11 * N, N)
const bareRate = await rate(N, (i) => bare(fresh[i]!))
const cachedRate = await rate(N, () => bare(fresh[0]!))
const probeRate = await rate(N, async (i) => {
  const result = await prober.probeOnce(order(i), 0)
  if (result !== 'OK') throw new Error(`probe ${i}: ${result}`)
})

// Workers: the same probes as jobs in PostgreSQL, run by `qantara relay --role worker` processes.
const workerRates: [number, Rate][] = []
const pgServer = await startPostgres()
try {
  for (const workers of [1, 2]) {
    const pgUrl = await pgServer.database(`probes_${workers}`)
    const shared = await PostgresStore.open({ url: pgUrl })
    await shared.putProvider(provider.publicKey, served.record.seq, canonicalJson(served), Date.now())
    const yaml = workerConfig(dir, pgUrl)
    // The workers are up (serving their metrics) before the jobs are queued: the clock times probing, not start-up.
    const procs = await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        const metricsAt = `127.0.0.1:${await freePort()}`
        const proc = launchQantara(
          ['relay', '--config', yaml, '--role', 'worker'],
          join(dir, `worker-${workers}-${w}.log`),
          { QANTARA__API__METRICSLISTEN: metricsAt },
        )
        await waitFor(`http://${metricsAt}/metrics`)
        return proc
      }),
    )
    const counter = new pg.Client({ connectionString: pgUrl })
    await counter.connect()
    /** Queues `n` probe jobs from order number `from` and waits until the workers have kept all `total` heartbeats. */
    const probed = async (from: number, n: number, total: number) => {
      await shared.enqueueProbes(
        Array.from({ length: n }, (_, i) => ({
          terms: order(from + i),
          slot: 0,
          runAt: Date.now(),
          slotEnd: Date.now() + 3_600_000,
          attempt: 1,
        })),
      )
      for (;;) {
        const { rows } = await counter.query<{ n: string }>('SELECT COUNT(*) AS n FROM heartbeats')
        if (Number(rows[0]!.n) >= total) return
        await new Promise((r) => setTimeout(r, 20))
      }
    }
    // Warmed up as the in-process path was.
    await probed(30 * N + workers * 1_000, 1_000, 1_000)
    const { ms, cpu } = await timed(() => probed(workers * N, N, N + 1_000), {
      workers: () => cpuMs(procs.map((p) => p.pid!)),
      agent: agentCpuMs,
      postgres: () => cpuMs([pgServer.process().pid!]),
    })
    await counter.end()
    workerRates.push([
      workers,
      {
        perSecond: N / (ms / 1000),
        relayerUs: (cpu.workers * 1000) / N,
        agentUs: (cpu.agent * 1000) / N,
        postgresUs: (cpu.postgres * 1000) / N,
      },
    ])
    for (const p of procs) p.kill('SIGTERM')
    await Promise.all(procs.map((p) => new Promise((ok) => p.once('exit', ok))))
    await shared.close()
  }
} finally {
  await pgServer.stop()
}

const us = (v: number | undefined) => (v === undefined ? '' : `${Math.round(v)} µs`)
const row = (what: string, r: Rate) =>
  console.log(
    `| ${what} | ${Math.round(r.perSecond)} | ${(r.perSecond / bareRate.perSecond).toFixed(2)}× | ${us(r.relayerUs)} | ${Math.round(1e6 / r.relayerUs)} | ${us(r.agentUs)} | ${us(r.postgresUs)} |`,
  )
console.log(
  '| measure | per second | ratio to the bare loop | relayer-side CPU per probe | probes per relayer-side core-second | agent CPU per probe | PostgreSQL CPU per probe |\n|---|---:|---:|---:|---:|---:|---:|',
)
row('bare keep-alive POSTs of pre-signed challenges to the same agent (baseline)', bareRate)
row('probes in process, SQLite (challenge signed, sent, heartbeat verified and kept)', probeRate)
for (const [workers, r] of workerRates)
  row(
    `probes by ${workers} worker process${workers > 1 ? 'es' : ''} on PostgreSQL (jobs claimed, probed, kept, finished)`,
    r,
  )
row("(reference) bare POSTs of one repeated challenge, answered from the agent's cache", cachedRate)
console.log(
  `\ngoal >= 0.7x in process: ${probeRate.perSecond / bareRate.perSecond >= 0.7 ? 'met' : 'MISSED'}`,
)
await store.close()
keepAlive.destroy()
await prober.drain()
agentProcess.kill('SIGTERM')
await new Promise((ok) => agentProcess.once('exit', ok))
rmSync(dir, { recursive: true, force: true })

/** A relayer config for probe workers of one identity on `pgUrl` (the chain section is validated, never dialled). */
function workerConfig(folder: string, pgUrl: string): string {
  const identity = join(folder, 'relayer.identity')
  const chainKey = join(folder, 'relayer.evm.key')
  writeFileSync(identity, `${relayerSeed.seed}\n`, { mode: 0o600 })
  // The config needs a chain key; a worker never signs with it.
  const evmKey = generatePrivateKey()
  writeFileSync(chainKey, `${evmKey}\n`, { mode: 0o600 })
  const yaml = join(folder, 'worker.yaml')
  writeFileSync(
    yaml,
    stringify({
      relayer: { id: 'r1', identityKey: { file: identity } },
      store: { postgres: { url: pgUrl } },
      api: { listen: '127.0.0.1:0' },
      log: { level: 'warn' },
      quorum: {
        threshold: 1,
        members: [{ id: 'r1', identity: relayer.publicKey, evm: privateKeyToAccount(evmKey).address }],
      },
      prober: {
        allowPrivateEndpoints: true,
        concurrency: CONCURRENCY,
        perHostConcurrency: CONCURRENCY,
        computeChallengeRate: 0,
      },
      chains: [
        {
          family: 'evm',
          id: 'eip155:31337',
          rpc: ['http://127.0.0.1:1'],
          escrow: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
          key: { file: chainKey },
          submitter: { maxFeePerGasWei: '50000000000' },
        },
      ],
    }),
  )
  return yaml
}
