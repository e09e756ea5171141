// The relayer's tick at 1k, 10k and 100k live orders, with 100 of them due, on SQLite and on PostgreSQL: the tick as it is (the due orders read by
// their index, each advanced) beside what the tick did before (every live order read), in the same run.
// Run: npm run build && node --expose-gc dist/bench/tick.js
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import type { EscrowChainRuntime } from '../src/chains.js'
import { silentLogger } from '../src/log.js'
import { createMetrics } from '../src/metrics.js'
import type { OrderTerms } from '../src/order.js'
import { LIVE_STATES } from '../src/orders/lifecycle.js'
import { Relayer } from '../src/relay/relayer.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { PostgresStore } from '../src/store/postgres.js'
import type { Store } from '../src/store/store.js'
import type { ProbeScheduler } from '../src/relay/options.js'
import { QueuedProbes } from '../src/relay/probeQueue.js'
import { startPostgres } from '../devkit/chains/postgres.js'

const CHAIN = 'eip155:31337'
const BASE = 1_800_000_000
const DUE = 100

// The first DUE orders run 60 s slots, so they are due at each minute; the rest run hour-long slots starting at other
// seconds, so none of them is due in the minute measured.
const terms = (i: number): OrderTerms => ({
  id: `0x${(i + 1).toString(16).padStart(64, '0')}`,
  chain: CHAIN,
  renter: '0x0000000000000000000000000000000000000001',
  token: 'native',
  amount: 1_000_000n,
  providerId: `0x${'aa'.repeat(32)}`,
  payout: '0x0000000000000000000000000000000000000002',
  start: BigInt(i < DUE ? BASE : BASE + 1 + (i % 50)),
  slotLength: i < DUE ? 60 : 3_600,
  slots: 24,
  gpu: REFERENCE_ORDER_GPU,
})

const runtime: EscrowChainRuntime = {
  kind: 'escrow',
  chain: CHAIN,
  feeRecipient: '',
  maxLag: 5n,
  pollIntervalMs: 1_000,
  watcher: { chain: CHAIN, poll: () => Promise.reject(new Error('not polled here')) },
  signSettlement: () => Promise.reject(new Error('nothing settles here')),
  verifySettlementSignature: () => Promise.resolve(true),
  settlementStatement: () => ({ scheme: 'ed25519', message: 'nothing settles here' }),
  submitSettlement: () => Promise.reject(new Error('nothing settles here')),
}

/** The median of five measurements, each the ms `run` reports (its own setup left out). */
async function medianOf(run: () => Promise<number>): Promise<number> {
  const samples: number[] = []
  for (let k = 0; k < 5; k++) samples.push(await run())
  return samples.sort((a, b) => a - b)[2]!
}

async function measure(
  label: string,
  store: Store,
  prober: (counted: () => void, clock: { now: number }) => ProbeScheduler,
): Promise<void> {
  const clock = { now: 0 }
  let probed = 0
  const relayer = new Relayer({
    relayerId: 'r1',
    members: ['r1'],
    threshold: 1,
    acceptTestGpuClasses: true,
    feeBps: 0,
    graceSeconds: 30,
    store,
    chains: [runtime],
    metrics: createMetrics(),
    logger: silentLogger(),
    nowMs: () => clock.now,
    prober: prober(() => probed++, clock),
  })
  const signal = new AbortController().signal
  console.log(`${label}
live orders   tick, ${DUE} due   read every live order (before)   ratio   probes per tick   RSS`)
  let inserted = 0
  for (const size of [1_000, 10_000, 100_000]) {
    // Opened and made active eight at a time (PostgreSQL takes them faster side by side).
    while (inserted < size) {
      const batch = Array.from({ length: Math.min(8, size - inserted) }, (_, k) => terms(inserted + k))
      inserted += batch.length
      await Promise.all(
        batch.map(async (t) => {
          await store.insertOrder(t, 1)
          await store.transitionOrder(t.id, ['opened'], 'active', {}, 1)
        }),
      )
    }
    // Every order is due once after it is opened: the first ticks look at them all.
    clock.now = (BASE + 61) * 1000
    while ((await store.listDueOrders(clock.now, 1)).length > 0) await relayer.tick(signal)
    probed = 0
    let minute = 2
    // Each sample a minute later: the due orders are in a new slot, so each tick has its probes to schedule.
    const tick = await medianOf(async () => {
      clock.now = (BASE + 60 * minute++) * 1000
      await store.setOrderDues(
        Array.from({ length: DUE }, (_, i) => ({
          id: terms(i).id,
          state: 'active' as const,
          dueMs: clock.now,
        })),
      )
      const t0 = performance.now()
      await relayer.tick(signal)
      return performance.now() - t0
    })
    // The process's memory after the tick's work, before the baseline's list of every order adds its own.
    ;(globalThis as { gc?: () => void }).gc?.()
    const rss = process.memoryUsage().rss / 2 ** 20
    const before = await medianOf(async () => {
      const t0 = performance.now()
      await store.listOrders(LIVE_STATES)
      return performance.now() - t0
    })
    console.log(
      `${String(size).padEnd(14)}${`${tick.toFixed(1)} ms`.padEnd(17)}${`${before.toFixed(1)} ms`.padEnd(35)}${(tick / before).toFixed(3).padEnd(8)}${String(probed / 5).padEnd(18)}${rss.toFixed(0)} MB`,
    )
  }
}

const dir = mkdtempSync(join(tmpdir(), 'qantara-tick-'))
const server = await startPostgres()
try {
  const sqlite = new SqliteStore(join(dir, 'store.sqlite'))
  // One process: the prober arms its timers in memory (counted here, not armed).
  await measure('SQLite, probes in process', sqlite, (counted) => ({
    schedule: counted,
    prune: () => undefined,
    drain: () => Promise.resolve(),
  }))
  await sqlite.close()
  const pg = await PostgresStore.open({ url: await server.database('tick') })
  // The leader of several processes: the tick's probe jobs are written in one statement at its end.
  await measure('PostgreSQL, probes queued for workers', pg, (counted, clock) => {
    const queued = new QueuedProbes(pg, () => clock.now)
    return {
      schedule: (order) => {
        counted()
        return queued.schedule(order)
      },
      flush: () => queued.flush(),
      prune: () => undefined,
      drain: () => Promise.resolve(),
    }
  })
  await pg.close()
} finally {
  await server.stop()
  rmSync(dir, { recursive: true, force: true })
}
