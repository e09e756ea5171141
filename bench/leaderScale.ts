// One leader with 100,000 live orders (issue 16): its RSS, the probes it keeps up with, and the settlement delay of
// five real orders on anvil while it carries them, beside the same five orders on an otherwise idle relayer in the
// same run. The 100,000 orders' providers are real agents, many to a process (devkit/load/agentFleet.ts). With
// --postgres the store is a real PostgreSQL and a probe worker process runs the probes the leader queues.
// Run: npm run build && node dist/bench/leaderScale.js [live orders, default 100000] [--postgres] [--node-options=...]
import { broadcastDelays, openOrders, settled } from './marketOrders.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { startAnvil } from '../devkit/chains/anvil.js'
import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { launchQantara, LOCAL_CHAIN, setUpLocalMarket } from '../devkit/localMarket.js'
import { canonicalJson } from '../src/canonicalJson.js'
import { type OrderTerms } from '../src/order.js'
import type { SignedProviderRecord } from '../src/registry/record.js'
import { PostgresStore } from '../src/store/postgres.js'
import { SqliteStore } from '../src/store/sqlite.js'
import type { Store } from '../src/store/store.js'
import { parse, stringify } from 'yaml'
import pg from 'pg'
import { startPostgres, type Postgres } from '../devkit/chains/postgres.js'
import { freePort } from '../devkit/freePort.js'

const LIVE = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 100_000)
const POSTGRES = process.argv.includes('--postgres')
/** `--node-options=...`: the leader's NODE_OPTIONS (a heap cap, say), to size one for an operator. */
const LEADER_NODE_OPTIONS = process.argv
  .find((a) => a.startsWith('--node-options='))
  ?.slice('--node-options='.length)
const PROVIDERS = 200
const ORDERS = 5
const GRACE = 1
const SLOT = 60
const FLEET = fileURLToPath(new URL('../devkit/load/fleetProcess.js', import.meta.url))

interface Phase {
  delays: number[]
  rssMaxMb: number
  rssEndMb: number
  /** The probe worker's, on PostgreSQL. */
  workerRssMaxMb?: number
  /** Seconds from the leader's start until every live order was active (its first look at each). */
  activatedInS?: number
  /** Background heartbeats kept per second while the five orders ran, against LIVE / SLOT needed. */
  keptPerSecond?: number
}

/** A process's resident memory; 0 once it has exited. */
const rssMb = (pid: number) => {
  if (!existsSync(`/proc/${pid}/status`)) return 0
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))
  return Number(line?.match(/\d+/)?.[0] ?? 0) / 1024
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const exited = (c: ChildProcess) => new Promise((ok) => (c.exitCode !== null ? ok(0) : c.once('exit', ok)))

/** The relayer's store as the bench reads and writes it, and how many rows a query counts. */
interface Bench {
  open(): Promise<Store>
  count(sql: string): Promise<number>
  close(): Promise<void>
}

async function phase(live: number, server: Postgres | undefined): Promise<Phase> {
  const dir = mkdtempSync(join(tmpdir(), 'qantara-scale-'))
  const anvil = await startAnvil({ blockTime: 1 })
  let fleet: ChildProcess | undefined
  const workers: ChildProcess[] = []
  try {
    const m = await setUpLocalMarket({
      rpcUrl: anvil.rpcUrl,
      dir,
      slotSeconds: 2,
      feeBps: 100,
      graceSeconds: GRACE,
      logLevel: 'warn',
    })
    // The relayer as an operator would run it: compute checks at the default rate, not the devnet's every slot.
    const config = parse(readFileSync(m.relayers[0]!.yaml, 'utf8')) as {
      prober: Record<string, unknown>
      store: unknown
    }
    delete config.prober.computeChallengeRate
    const pgUrl = server && (await server.database(`scale_${live}`))
    if (pgUrl) config.store = { postgres: { url: pgUrl } }
    writeFileSync(m.relayers[0]!.yaml, stringify(config))
    const bench: Bench = pgUrl
      ? await (async () => {
          const client = new pg.Client({ connectionString: pgUrl })
          // The server stops in `finally` when the phase throws: the phase's error is the one to report, not this.
          client.on('error', () => undefined)
          await client.connect()
          return {
            open: () => PostgresStore.open({ url: pgUrl }),
            // Nothing yet before the relayer has migrated its store (42P01: no such table).
            count: (sql) =>
              client.query<{ n: string }>(sql).then(
                (r) => Number(r.rows[0]!.n),
                (err: { code?: string }) => (err.code === '42P01' ? 0 : Promise.reject(err as Error)),
              ),
            close: () => client.end(),
          }
        })()
      : (() => {
          const storePath = m.relayers[0]!.store
          const db = () => new Database(storePath, { readonly: true })
          return {
            open: () => Promise.resolve(new SqliteStore(storePath)),
            count: (sql) => {
              // Nothing yet before the relayer has created its store.
              if (!existsSync(storePath)) return Promise.resolve(0)
              const reader = db()
              try {
                return Promise.resolve((reader.prepare(sql).get() as { n: number }).n)
              } finally {
                reader.close()
              }
            },
            close: () => Promise.resolve(),
          }
        })()
    if (live > 0) {
      writeFileSync(
        join(dir, 'fleet.json'),
        JSON.stringify({
          providers: PROVIDERS,
          payout: { [LOCAL_CHAIN]: m.providerPayout },
          prices: [
            { chain: LOCAL_CHAIN, token: m.usdc, gpuClass: 'cpu-reference', perSlot: '1', slotLength: SLOT },
          ],
        }),
      )
      fleet = spawn(process.execPath, [FLEET, join(dir, 'fleet.json'), join(dir, 'records.json')], {
        stdio: 'ignore',
      })
      while (!existsSync(join(dir, 'records.json'))) await sleep(100)
      await sleep(100)
      const records = JSON.parse(readFileSync(join(dir, 'records.json'), 'utf8')) as SignedProviderRecord[]
      // The live orders as the leader's watcher would have recorded them, written before it starts.
      const store = await bench.open()
      const now = Date.now()
      for (const r of records)
        await store.putProvider(r.record.providerId, r.record.seq, canonicalJson(r), now)
      const start = BigInt(Math.floor(now / 1000))
      const insert = async (i: number) => {
        const terms: OrderTerms = {
          id: `0x${'e'.repeat(24)}${i.toString(16).padStart(40, '0')}` as const,
          chain: LOCAL_CHAIN,
          renter: m.renter.account.address,
          token: m.usdc,
          amount: 60n,
          providerId: records[i % records.length]!.record.providerId as `0x${string}`,
          payout: m.providerPayout,
          start,
          slotLength: SLOT,
          slots: 60,
          gpu: REFERENCE_ORDER_GPU,
        }
        await store.insertOrder(terms, now)
      }
      for (let i = 0; i < live; i += 8)
        await Promise.all(
          [0, 1, 2, 3, 4, 5, 6, 7].map((k) => (i + k < live ? insert(i + k) : Promise.resolve())),
        )
      await store.close()
    }
    const started = Date.now()
    const relayer = launchQantara(
      ['relay', '--config', m.relayers[0]!.yaml, ...(pgUrl ? ['--role', 'leader'] : [])],
      join(dir, 'relayer.log'),
      LEADER_NODE_OPTIONS ? { NODE_OPTIONS: LEADER_NODE_OPTIONS } : {},
    )
    if (pgUrl)
      workers.push(
        launchQantara(
          ['relay', '--config', m.relayers[0]!.yaml, '--role', 'worker'],
          join(dir, 'worker.log'),
          {
            QANTARA__API__METRICSLISTEN: `127.0.0.1:${await freePort()}`,
          },
        ),
      )
    const agent = launchQantara(['agent', '--config', m.agentYaml], join(dir, 'agent.log'))
    let rssMax = 0
    let workerRssMax = 0
    const sampler = setInterval(() => {
      rssMax = Math.max(rssMax, rssMb(relayer.pid!))
      for (const w of workers) workerRssMax = Math.max(workerRssMax, rssMb(w.pid!))
    }, 500)
    try {
      const count = (sql: string) => bench.count(sql)
      // In the relayer's store, not its paginated listing: among 200 others it may be on any page.
      while (
        (await count(`SELECT COUNT(*) AS n FROM providers WHERE provider_id = '${m.provider.publicKey}'`)) ===
        0
      )
        await sleep(200)
      let activatedInS: number | undefined
      if (live > 0) {
        while ((await count("SELECT COUNT(*) AS n FROM orders WHERE state = 'active'")) < live)
          await sleep(500)
        activatedInS = (Date.now() - started) / 1000
      }
      const keptBefore = await count('SELECT COUNT(*) AS n FROM heartbeats')
      const keptFrom = Date.now()
      const opened = await openOrders(m, ORDERS, 2)
      await settled(m, ORDERS)
      // The five orders' own heartbeats are a handful among these.
      const kept = (await count('SELECT COUNT(*) AS n FROM heartbeats')) - keptBefore
      const keptPerSecond = kept / ((Date.now() - keptFrom) / 1000)
      await bench.close()
      const rssEndMb = rssMb(relayer.pid!)
      for (const c of [relayer, agent, ...workers]) c.kill('SIGTERM')
      await Promise.all([relayer, agent, ...workers].map(exited))
      const store = await bench.open()
      const delays = await broadcastDelays(store, opened, GRACE)
      await store.close()
      return {
        delays,
        rssMaxMb: rssMax,
        rssEndMb,
        ...(workers.length > 0 ? { workerRssMaxMb: workerRssMax } : {}),
        ...(activatedInS !== undefined ? { activatedInS, keptPerSecond } : {}),
      }
    } finally {
      clearInterval(sampler)
      for (const c of [relayer, agent, ...workers]) c.kill('SIGKILL')
    }
  } finally {
    fleet?.kill('SIGTERM')
    if (fleet) await exited(fleet)
    await anvil.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

const server = POSTGRES ? await startPostgres() : undefined
const [idle, loaded] = await (async () => {
  try {
    return [await phase(0, server), await phase(LIVE, server)]
  } finally {
    await server?.stop()
  }
})()
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const mb = (v: number) => `${Math.round(v)} MB`
console.log(`store: ${POSTGRES ? 'PostgreSQL, probes by one worker process' : 'SQLite, probes in process'}`)
console.log(`leader's NODE_OPTIONS: ${LEADER_NODE_OPTIONS ?? '(none: V8 sizes its heap)'}\n`)
console.log('| measure | idle relayer (baseline, same run) | leader with live orders |\n|---|---:|---:|')
console.log(`| live orders | 0 | ${LIVE.toLocaleString('en')} |`)
console.log(`| leader RSS, highest seen | ${mb(idle.rssMaxMb)} | ${mb(loaded.rssMaxMb)} |`)
console.log(`| leader RSS at the end | ${mb(idle.rssEndMb)} | ${mb(loaded.rssEndMb)} |`)
if (loaded.workerRssMaxMb !== undefined)
  console.log(`| probe worker RSS, highest seen | | ${mb(loaded.workerRssMaxMb)} |`)
console.log(`| from start until every live order is active | | ${loaded.activatedInS?.toFixed(1)} s |`)
console.log(
  `| heartbeats kept per second (needed: ${Math.round(LIVE / SLOT)}/s, one per order per ${SLOT} s slot) | | ${Math.round(loaded.keptPerSecond ?? 0)} |`,
)
console.log(
  `| settlement broadcast after end + grace, median / max of ${ORDERS} | ${median(idle.delays)} / ${Math.max(...idle.delays)} ms | ${median(loaded.delays)} / ${Math.max(...loaded.delays)} ms |`,
)
console.log(`\ngoal RSS <= 300 MB: ${loaded.rssMaxMb <= 300 ? 'met' : 'MISSED'}`)
