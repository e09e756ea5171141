// The relayer's order gauges at 1k, 10k and 100k orders: one grouped count beside reading every order and filtering
// it by state (what the gauges did before), in the same run. Run: npm run build && node dist/bench/orderGauges.js
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { ORDER_STATES, type OrderState } from '../src/orders/record.js'
import type { OrderTerms } from '../src/order.js'
import { SqliteStore } from '../src/store/sqlite.js'

const terms = (i: number): OrderTerms => ({
  id: `0x${i.toString(16).padStart(64, '0')}`,
  chain: 'eip155:31337',
  renter: '0x0000000000000000000000000000000000000001',
  token: 'native',
  amount: 1_000_000n,
  providerId: `0x${'aa'.repeat(32)}`,
  payout: '0x0000000000000000000000000000000000000002',
  start: 1_800_000_000n,
  slotLength: 60,
  slots: 1_440,
  gpu: REFERENCE_ORDER_GPU,
})

async function median(run: () => Promise<unknown>): Promise<number> {
  const samples: number[] = []
  for (let k = 0; k < 5; k++) {
    const t0 = performance.now()
    await run()
    samples.push(performance.now() - t0)
  }
  return samples.sort((a, b) => a - b)[2]!
}

const dir = mkdtempSync(join(tmpdir(), 'qantara-gauges-'))
try {
  const store = new SqliteStore(join(dir, 'store.sqlite'))
  console.log('orders    read all and filter   grouped count   ratio')
  let inserted = 0
  for (const size of [1_000, 10_000, 100_000]) {
    for (; inserted < size; inserted++) {
      await store.insertOrder(terms(inserted + 1), 1)
      // One order in ten has ended its life, as on a relayer that never prunes.
      if (inserted % 10 === 0)
        await store.transitionOrder(terms(inserted + 1).id, ['opened'], 'refunded', {}, 2)
    }
    const readAll = await median(async () => {
      const all = await store.listOrders()
      return ORDER_STATES.map((state: OrderState) => all.filter((o) => o.state === state).length)
    })
    const grouped = await median(() => store.countOrdersByState())
    console.log(
      `${String(size).padEnd(10)}${`${readAll.toFixed(1)} ms`.padEnd(22)}${`${grouped.toFixed(1)} ms`.padEnd(16)}${(grouped / readAll).toFixed(3)}`,
    )
  }
  await store.close()
} finally {
  rmSync(dir, { recursive: true, force: true })
}
