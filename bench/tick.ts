// The relayer's tick at 1k, 10k and 100k live orders, with 100 of them due: the tick as it is (the due orders read by
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
  submitSettlement: () => Promise.reject(new Error('nothing settles here')),
}

async function median(run: () => Promise<unknown>): Promise<number> {
  const samples: number[] = []
  for (let k = 0; k < 5; k++) {
    const t0 = performance.now()
    await run()
    samples.push(performance.now() - t0)
  }
  return samples.sort((a, b) => a - b)[2]!
}

const dir = mkdtempSync(join(tmpdir(), 'qantara-tick-'))
try {
  const store = new SqliteStore(join(dir, 'store.sqlite'))
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
    prober: { schedule: () => void probed++, prune: () => undefined, drain: () => Promise.resolve() },
  })
  const signal = new AbortController().signal
  console.log(
    `live orders   tick, ${DUE} due   read every live order (before)   ratio   probes per tick   RSS`,
  )
  let inserted = 0
  for (const size of [1_000, 10_000, 100_000]) {
    for (; inserted < size; inserted++) {
      await store.insertOrder(terms(inserted), 1)
      await store.transitionOrder(terms(inserted).id, ['opened'], 'active', {}, 1)
    }
    // Every order is due once after it is opened: the first ticks look at them all.
    clock.now = (BASE + 61) * 1000
    while ((await store.listDueOrders(clock.now, 1)).length > 0) await relayer.tick(signal)
    clock.now = (BASE + 120) * 1000
    probed = 0
    const tick = await median(async () => {
      for (let i = 0; i < DUE; i++) await store.setOrderDue(terms(i).id, 'active', clock.now)
      const t0 = performance.now()
      await relayer.tick(signal)
      return performance.now() - t0
    })
    // The process's memory after the tick's work, before the baseline's list of every order adds its own.
    ;(globalThis as { gc?: () => void }).gc?.()
    const rss = process.memoryUsage().rss / 2 ** 20
    const before = await median(() => store.listOrders(LIVE_STATES))
    console.log(
      `${String(size).padEnd(14)}${`${tick.toFixed(1)} ms`.padEnd(17)}${`${before.toFixed(1)} ms`.padEnd(35)}${(tick / before).toFixed(3).padEnd(8)}${String(probed / 5).padEnd(18)}${rss.toFixed(0)} MB`,
    )
  }
  await store.close()
} finally {
  rmSync(dir, { recursive: true, force: true })
}
