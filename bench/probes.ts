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

const N = 3_000
const CONCURRENCY = 16
const logger = silentLogger()
const relayerSeed = generateEd25519()
const relayer = relayerSeed.signer

async function waitForAgent(recordUrl: string): Promise<SignedProviderRecord> {
  for (let i = 0; i < 100; i++) {
    const res = await fetch(recordUrl).catch(() => undefined)
    if (res?.ok) return (await res.json()) as SignedProviderRecord
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('agent did not start')
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
const served = await waitForAgent(`${url}/v1/provider`)
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

// Baseline: the same agent endpoint, a pre-signed challenge, raw keep-alive HTTP, same concurrency.
const challenge = canonicalJson(
  new ChallengeBook('r1', relayer, 60_000).issue(`0x${'ab'.repeat(32)}`, 0, Date.now()),
)
const keepAlive = new Agent({ keepAlive: true, maxSockets: CONCURRENCY })
const bare = () =>
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

async function rate(n: number, fn: (i: number) => Promise<void>): Promise<number> {
  const q = new PQueue({ concurrency: CONCURRENCY })
  const t = performance.now()
  for (let i = 0; i < n; i++) void q.add(() => fn(i))
  await q.onIdle()
  return n / ((performance.now() - t) / 1000)
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

await rate(200, () => bare()) // warm up both paths
const bareRate = await rate(N, () => bare())
const probeRate = await rate(N, async (i) => {
  const result = await prober.probeOnce(order(i), 0)
  if (result !== 'OK') throw new Error(`probe ${i}: ${result}`)
})

// Workers: the same probes as jobs in PostgreSQL, run by `qantara relay --role worker` processes.
const workerRates: [number, number][] = []
const pgServer = await startPostgres()
try {
  for (const workers of [1, 2]) {
    const pgUrl = await pgServer.database(`probes_${workers}`)
    const shared = await PostgresStore.open({ url: pgUrl })
    await shared.putProvider(provider.publicKey, served.record.seq, canonicalJson(served), Date.now())
    const yaml = workerConfig(dir, pgUrl)
    const t0 = performance.now()
    const offset = workers * N
    await shared.enqueueProbes(
      Array.from({ length: N }, (_, i) => ({
        terms: order(offset + i),
        slot: 0,
        runAt: Date.now(),
        slotEnd: Date.now() + 3_600_000,
        attempt: 1,
      })),
    )
    const procs = await Promise.all(
      Array.from({ length: workers }, async (_, w) =>
        launchQantara(
          ['relay', '--config', yaml, '--role', 'worker'],
          join(dir, `worker-${workers}-${w}.log`),
          {
            QANTARA__API__METRICSLISTEN: `127.0.0.1:${await freePort()}`,
          },
        ),
      ),
    )
    const counter = new pg.Client({ connectionString: pgUrl })
    await counter.connect()
    for (;;) {
      const { rows } = await counter.query<{ n: string }>('SELECT COUNT(*) AS n FROM heartbeats')
      if (Number(rows[0]!.n) >= N) break
      await new Promise((r) => setTimeout(r, 100))
    }
    await counter.end()
    workerRates.push([workers, N / ((performance.now() - t0) / 1000)])
    for (const p of procs) p.kill('SIGTERM')
    await Promise.all(procs.map((p) => new Promise((ok) => p.once('exit', ok))))
    await shared.close()
  }
} finally {
  await pgServer.stop()
}

console.log('| measure | per second | baseline (same run) | ratio |\n|---|---:|---|---:|')
console.log(
  `| probes (challenge signed, sent, heartbeat verified and stored) | ${Math.round(probeRate)} | bare keep-alive HTTP POSTs to the same agent: ${Math.round(bareRate)}/s | ${(probeRate / bareRate).toFixed(2)}× |`,
)
for (const [workers, r] of workerRates)
  console.log(
    `| probes by ${workers} worker process${workers > 1 ? 'es' : ''} on PostgreSQL (jobs claimed, probed, stored) | ${Math.round(r)} | bare keep-alive HTTP POSTs: ${Math.round(bareRate)}/s | ${(r / bareRate).toFixed(2)}× |`,
  )
console.log(`\ngoal >= 0.7x: ${probeRate / bareRate >= 0.7 ? 'met' : 'MISSED'}`)
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
