// The store operations the relayer uses most, on PostgreSQL (a real server started from this machine's binaries) beside
// SQLite (the embedded default, the baseline), in the same run. Run: npm run build && node dist/bench/storeOps.js
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startPostgres } from '../devkit/chains/postgres.js'
import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import type { OrderTerms } from '../src/order.js'
import { PostgresStore } from '../src/store/postgres.js'
import { SqliteStore } from '../src/store/sqlite.js'
import type { Store } from '../src/store/store.js'

const ORDERS = 2_000
const terms = (i: number): OrderTerms => ({
  id: `0x${(i + 1).toString(16).padStart(64, '0')}`,
  chain: 'eip155:31337',
  renter: '0x0000000000000000000000000000000000000001',
  token: 'native',
  amount: 1_000_000n,
  providerId: `0x${'aa'.repeat(32)}`,
  payout: '0x0000000000000000000000000000000000000002',
  start: 1_800_000_000n,
  slotLength: 60,
  slots: 60,
  gpu: REFERENCE_ORDER_GPU,
})
// A heartbeat body of about the size of a real one (a signed challenge, telemetry of one GPU).
const body = (order: number, slot: number) =>
  JSON.stringify({ heartbeat: { order, slot, gpus: null, pad: 'x'.repeat(900) }, signature: 'ab'.repeat(64) })

/** Runs `op(i)` for i < n with `parallel` in flight at once; operations per second. */
async function rate(n: number, parallel: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) await op(next++)
    }),
  )
  return n / ((performance.now() - t0) / 1000)
}

async function measure(store: Store, parallel: number): Promise<Record<string, number>> {
  const r: Record<string, number> = {}
  r.insertOrder = await rate(ORDERS, parallel, (i) => store.insertOrder(terms(i), 1))
  r.transitionOrder = await rate(ORDERS, parallel, (i) =>
    store.transitionOrder(terms(i).id, ['opened'], 'active', {}, 2),
  )
  r['setOrderDues (1)'] = await rate(ORDERS, parallel, (i) =>
    store.setOrderDues([{ id: terms(i).id, state: 'active', dueMs: 1_000 + i }]),
  )
  r['listDueOrders (100)'] = await rate(200, parallel, (i) => store.listDueOrders(1_000 + i * 10, 100))
  const heartbeat = (i: number) => ({
    orderId: terms(i % ORDERS).id,
    slot: Math.floor(i / ORDERS),
    relayerId: 'r1',
    body: body(i % ORDERS, Math.floor(i / ORDERS)),
    receivedAt: 1,
  })
  r['putHeartbeats (1)'] = await rate(ORDERS * 5, parallel, (i) => store.putHeartbeats([heartbeat(i)]))
  // As the probers' group commit writes them when many probes end together: heartbeats per second, 32 per call.
  r['putHeartbeats (32), per heartbeat'] =
    32 *
    (await rate((ORDERS * 5) / 32, parallel, (i) =>
      store.putHeartbeats(Array.from({ length: 32 }, (_, k) => heartbeat(ORDERS * 5 + i * 32 + k))),
    ))
  r.listHeartbeatKeys = await rate(ORDERS, parallel, (i) => store.listHeartbeatKeys(terms(i).id))
  r.getOrder = await rate(ORDERS, parallel, (i) => store.getOrder(terms(i).id))
  return r
}

const dir = mkdtempSync(join(tmpdir(), 'qantara-storeops-'))
const server = await startPostgres()
try {
  const rows: [string, Record<string, number>][] = []
  const sqlite = new SqliteStore(join(dir, 'store.sqlite'))
  rows.push(['SQLite', await measure(sqlite, 1)])
  await sqlite.close()
  for (const parallel of [1, 8]) {
    const pg = await PostgresStore.open({
      url: await server.database(`bench_${parallel}`),
      maxConnections: 8,
    })
    rows.push([`PostgreSQL, ${parallel} in flight`, await measure(pg, parallel)])
    await pg.close()
  }
  const ops = Object.keys(rows[0]![1])
  console.log(`operations per second   ${rows.map(([name]) => name.padEnd(26)).join('')}`)
  for (const op of ops)
    console.log(`${op.padEnd(24)}${rows.map(([, r]) => `${r[op]!.toFixed(0)}/s`.padEnd(26)).join('')}`)
} finally {
  await server.stop()
  rmSync(dir, { recursive: true, force: true })
}
