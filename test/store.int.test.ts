import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import type { ChainEvent } from '../src/chains.js'
import { MIGRATIONS } from '../src/store/migrations.js'
import { SqliteStore } from '../src/store/sqlite.js'
import type { OrderFilter } from '../src/store/store.js'
import { merkleLeafHash } from '../src/merkle.js'
import { isQantaraError } from '../src/errors.js'
import { CHAIN, opened, storeContract, terms } from './support/storeContract.js'
import { tempDir } from './support/tmp.js'

const tmp = tempDir()
afterAll(tmp.cleanup)
let n = 0
const freshPath = () => join(tmp.dir, `store-${n++}`, 'q.sqlite')

describe('SqliteStore', () => {
  storeContract(() => Promise.resolve(new SqliteStore(freshPath())))

  it('survives a reopen with its data and applies each migration once', async () => {
    const path = freshPath()
    const first = new SqliteStore(path)
    await first.commitEvents(CHAIN, [opened(1)], { height: 101n, hash: '0xb1' })
    await first.close()
    const again = new SqliteStore(path)
    expect(again.schemaVersion()).toBe(MIGRATIONS.at(-1)!.version)
    expect(await again.getCheckpoint(CHAIN)).toEqual({ height: 101n, hash: '0xb1' })
    expect(await again.isWritable()).toBe(true)
    await again.close()
  })

  it("lists an order's events, those stored before the order index existed included", async () => {
    const path = freshPath()
    const first = new SqliteStore(path)
    const released: ChainEvent = {
      kind: 'VaultReleased',
      chain: CHAIN,
      key: 'rel',
      block: { height: 105n, hash: '' },
      txHash: 'rel',
      orderId: `0x${(1).toString(16).padStart(64, '0')}`,
      payments: [{ owner: '0xp', amount: 7n }],
    }
    await first.commitEvents(CHAIN, [opened(1), opened(2)], { height: 102n, hash: '0xb2' })
    await first.close()
    // The store as version 5 left it: no order column.
    const db = new Database(path)
    db.exec(
      'DROP INDEX orders_by_renter; DROP INDEX orders_by_provider; DROP INDEX orders_by_chain; DROP INDEX orders_by_state_id; DROP INDEX submissions_by_state; ALTER TABLE orders DROP COLUMN renter; ALTER TABLE orders DROP COLUMN provider_id; DROP INDEX chain_events_by_order; ALTER TABLE chain_events DROP COLUMN order_id; ALTER TABLE heartbeats DROP COLUMN leaf_hash; ALTER TABLE heartbeats DROP COLUMN gpus; ALTER TABLE heartbeats DROP COLUMN compute; ALTER TABLE heartbeats DROP COLUMN transcript; DROP INDEX orders_compactable; ALTER TABLE orders DROP COLUMN compacted_at; DROP INDEX orders_due; ALTER TABLE orders DROP COLUMN due_at; DELETE FROM schema_migrations WHERE version >= 6',
    )
    db.close()
    const store = new SqliteStore(path)
    await store.commitEvents(CHAIN, [released], { height: 105n, hash: '' })
    expect((await store.listOrderEvents(CHAIN, released.orderId)).map((e) => e.kind)).toEqual([
      'OrderOpened',
      'VaultReleased',
    ])
    expect(await store.listOrderEvents('eip155:1', released.orderId)).toEqual([])
    await store.close()
  })

  it('fills in the leaf hash and GPUs of heartbeats kept before those columns existed, so settlement reads no bodies', async () => {
    const path = freshPath()
    const first = new SqliteStore(path)
    const gpu = { name: 'NVIDIA H100 80GB HBM3', uuid: 'GPU-1', memoryTotalMiB: 81_559 }
    const body = JSON.stringify({ heartbeat: { gpus: [{ ...gpu, index: 0, utilizationPct: 3 }] } })
    const noGpu = '{"heartbeat":{"gpus":null}}'
    await first.putHeartbeats([{ orderId: '0xo', slot: 3, relayerId: 'r1', body, receivedAt: 1 }])
    await first.putHeartbeats([{ orderId: '0xo', slot: 4, relayerId: 'r1', body: noGpu, receivedAt: 1 }])
    await first.close()
    const db = new Database(path)
    db.exec(
      'DROP INDEX orders_by_renter; DROP INDEX orders_by_provider; DROP INDEX orders_by_chain; DROP INDEX orders_by_state_id; DROP INDEX submissions_by_state; ALTER TABLE orders DROP COLUMN renter; ALTER TABLE orders DROP COLUMN provider_id; ALTER TABLE heartbeats DROP COLUMN leaf_hash; ALTER TABLE heartbeats DROP COLUMN gpus; ALTER TABLE heartbeats DROP COLUMN compute; ALTER TABLE heartbeats DROP COLUMN transcript; DROP INDEX orders_compactable; ALTER TABLE orders DROP COLUMN compacted_at; DROP INDEX orders_due; ALTER TABLE orders DROP COLUMN due_at; DELETE FROM schema_migrations WHERE version >= 7',
    )
    db.close()
    const store = new SqliteStore(path)
    expect(await store.listHeartbeatKeys('0xo')).toEqual([
      {
        orderId: '0xo',
        slot: 3,
        relayerId: 'r1',
        leafHash: merkleLeafHash(body),
        gpus: [gpu],
        compute: null,
      },
      {
        orderId: '0xo',
        slot: 4,
        relayerId: 'r1',
        leafHash: merkleLeafHash(noGpu),
        gpus: null,
        compute: null,
      },
    ])
    expect(await store.countHeartbeats('0xo')).toBe(2)
    await store.close()
  })

  it('fills in the renter and provider of orders kept before those columns existed, so filtered listings find them', async () => {
    const path = freshPath()
    const first = new SqliteStore(path)
    const renter = '0xAbCdEf0000000000000000000000000000000001'
    await first.insertOrder({ ...terms(1), renter }, 1)
    await first.insertOrder({ ...terms(2), renter: 'SoLanaRenter' }, 1)
    await first.close()
    const db = new Database(path)
    db.exec(
      'DROP INDEX orders_by_renter; DROP INDEX orders_by_provider; DROP INDEX orders_by_chain; DROP INDEX orders_by_state_id; DROP INDEX submissions_by_state; ALTER TABLE orders DROP COLUMN renter; ALTER TABLE orders DROP COLUMN provider_id; DELETE FROM schema_migrations WHERE version >= 11',
    )
    db.close()
    const store = new SqliteStore(path)
    const ids = async (filter: OrderFilter) =>
      (await store.listOrdersPage(undefined, 10, filter)).map((o) => o.terms.id)
    expect(await ids({ renter: renter.toLowerCase() })).toEqual([terms(1).id])
    expect(await ids({ renter: 'SoLanaRenter' })).toEqual([terms(2).id])
    expect(await ids({ providerId: terms(1).providerId })).toHaveLength(2)
    await store.close()
  })

  it('refuses a store written by a newer schema', async () => {
    const path = freshPath()
    await new SqliteStore(path).close()
    const db = new Database(path)
    db.prepare("INSERT INTO schema_migrations VALUES (99, 'future', 0)").run()
    db.close()
    try {
      new SqliteStore(path)
      expect.unreachable()
    } catch (err) {
      expect(isQantaraError(err, 'STORE_MIGRATION_FAILED')).toBe(true)
      expect((err as Error).message).toContain(
        `store schema version 99 is newer than this build knows (${MIGRATIONS.at(-1)!.version})`,
      )
    }
  })
})
