import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import type { ChainEvent } from '../src/chains.js'
import type { OrderTerms } from '../src/order.js'
import { MIGRATIONS } from '../src/store/migrations.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { merkleLeafHash } from '../src/merkle.js'
import { isQantaraError } from '../src/errors.js'
import { tempDir } from './support/tmp.js'

const tmp = tempDir()
afterAll(tmp.cleanup)
let n = 0
const freshPath = () => join(tmp.dir, `store-${n++}`, 'q.sqlite')

const CHAIN = 'eip155:31337' as const
function opened(i: number, amount = 1_000n): ChainEvent {
  return {
    kind: 'OrderOpened',
    chain: CHAIN,
    key: `0xtx${i}:0`,
    block: { height: BigInt(100 + i), hash: `0xb${i}` },
    txHash: `0xtx${i}`,
    order: {
      id: `0x${i.toString(16).padStart(64, '0')}`,
      chain: CHAIN,
      renter: '0xr',
      token: 'native',
      amount,
      providerId: `0x${'11'.repeat(32)}`,
      payout: '0xp',
      start: 1_700_000_000n,
      slotLength: 60,
      slots: 10,
      gpu: REFERENCE_ORDER_GPU,
    },
  }
}

describe('SqliteStore', () => {
  it('keeps the newest relayer set a chain reported, whatever order the events come in', async () => {
    const store = new SqliteStore(freshPath())
    expect(await store.getRelayerSet(CHAIN)).toBeUndefined()
    expect(await store.putRelayerSet(CHAIN, { version: 2n, members: ['0xB', '0xC'], threshold: 2 })).toBe(
      true,
    )
    expect(await store.putRelayerSet(CHAIN, { version: 1n, members: ['0xA'], threshold: 1 })).toBe(false)
    expect(await store.putRelayerSet(CHAIN, { version: 2n, members: ['0xD'], threshold: 1 })).toBe(false)
    expect(await store.getRelayerSet(CHAIN)).toEqual({ version: 2n, members: ['0xB', '0xC'], threshold: 2 })
    expect(await store.getRelayerSet('eip155:1')).toBeUndefined()
    await store.close()
  })

  it('keeps amounts beyond 2^53 exact', async () => {
    const store = new SqliteStore(freshPath())
    const huge = 2n ** 200n + 1n
    await store.commitEvents(CHAIN, [opened(1, huge)], { height: 101n, hash: '0xb1' })
    const [stored] = await store.listEvents({ chain: CHAIN })
    expect(stored!.event.kind === 'OrderOpened' && stored!.event.order.amount).toBe(huge)
    await store.close()
  })

  it('moves the checkpoint with its events, and skips events it already holds', async () => {
    const store = new SqliteStore(freshPath())
    expect(await store.commitEvents(CHAIN, [opened(1), opened(2)], { height: 102n, hash: '0xb2' })).toBe(2)
    expect(await store.commitEvents(CHAIN, [opened(2), opened(3)], { height: 103n, hash: '0xb3' })).toBe(1)
    expect(await store.getCheckpoint(CHAIN)).toEqual({ height: 103n, hash: '0xb3' })
    expect((await store.listEvents({ chain: CHAIN })).map((e) => e.event.key)).toEqual([
      '0xtx1:0',
      '0xtx2:0',
      '0xtx3:0',
    ])
    await store.close()
  })

  it('writes nothing when one event of a batch is refused', async () => {
    const store = new SqliteStore(freshPath())
    await store.commitEvents(CHAIN, [opened(1)], { height: 101n, hash: '0xb1' })
    const foreign = { ...opened(3), chain: 'eip155:1' as const }
    await expect(
      store.commitEvents(CHAIN, [opened(2), foreign], { height: 103n, hash: '0xb3' }),
    ).rejects.toThrow(/belongs to eip155:1/)
    expect(await store.getCheckpoint(CHAIN)).toEqual({ height: 101n, hash: '0xb1' })
    expect(await store.listEvents({ chain: CHAIN })).toHaveLength(1)
    await store.close()
  })

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
      'DROP INDEX chain_events_by_order; ALTER TABLE chain_events DROP COLUMN order_id; ALTER TABLE heartbeats DROP COLUMN leaf_hash; ALTER TABLE heartbeats DROP COLUMN gpus; ALTER TABLE heartbeats DROP COLUMN compute; ALTER TABLE heartbeats DROP COLUMN transcript; DROP INDEX orders_due; ALTER TABLE orders DROP COLUMN due_at; DELETE FROM schema_migrations WHERE version >= 6',
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
    await first.putHeartbeat({ orderId: '0xo', slot: 3, relayerId: 'r1', body, receivedAt: 1 })
    await first.putHeartbeat({ orderId: '0xo', slot: 4, relayerId: 'r1', body: noGpu, receivedAt: 1 })
    await first.close()
    const db = new Database(path)
    db.exec(
      'ALTER TABLE heartbeats DROP COLUMN leaf_hash; ALTER TABLE heartbeats DROP COLUMN gpus; ALTER TABLE heartbeats DROP COLUMN compute; ALTER TABLE heartbeats DROP COLUMN transcript; DROP INDEX orders_due; ALTER TABLE orders DROP COLUMN due_at; DELETE FROM schema_migrations WHERE version >= 7',
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

  it("keeps a compute challenge's transcript for the challenge and commitment it answers, its verdict only rising, through re-signed heartbeats", async () => {
    const store = new SqliteStore(freshPath())
    const heartbeat = (challengeSig: string, commitment: string | undefined, timestamp: number) =>
      JSON.stringify({
        heartbeat: {
          challenge: { challenge: { compute: { seed: '0x', n: 4 } }, signature: challengeSig },
          timestamp,
          gpus: null,
          ...(commitment ? { commitment } : {}),
        },
      })
    const put = (slot: number, body: string) =>
      store.putHeartbeat({ orderId: '0xo', slot, relayerId: 'r1', body, receivedAt: 1 })
    const at = (
      slot: number,
      challengeKey: string,
      verdict: 'passed' | 'failed',
      transcript: string = verdict,
    ) => store.putTranscript({ orderId: '0xo', slot, relayerId: 'r1', challengeKey, transcript, verdict })
    const compute = async () => (await store.listHeartbeatKeys('0xo')).map((h) => h.compute)
    // Slot 1 committed; slot 2 answered its challenge with no commitment (declined, on the provider's signature); slot 3 unchallenged.
    await put(1, heartbeat('0xsig', '0xroot', 1))
    await put(2, heartbeat('0xsig2', undefined, 1))
    await put(3, '{"heartbeat":{}}')
    expect(await compute()).toEqual(['unanswered', 'declined', null])
    // Only for the challenge and commitment the kept heartbeat carries, never for a declined or unchallenged one.
    expect(await at(1, '0xsig:0xother', 'passed')).toBe(false)
    expect(await at(2, '0xsig2:0xroot', 'failed')).toBe(false)
    expect(await at(3, 'null', 'passed')).toBe(false)
    expect(await at(1, '0xsig:0xroot', 'passed')).toBe(true)
    expect(await at(1, '0xsig:0xroot', 'passed', 'another')).toBe(false)
    expect(await at(1, '0xsig:0xroot', 'failed')).toBe(true)
    expect(await at(1, '0xsig:0xroot', 'passed')).toBe(false)
    expect(await compute()).toEqual(['failed', 'declined', null])
    expect(await store.getTranscript('0xo', 1, 'r1')).toBe('failed')
    // Moved to the end of the order's rows, flagged with its verdict: a peer past the heartbeat pulls it again.
    const after = await store.listHeartbeatsAfter('0xo', 0, 10)
    expect(after.map((h) => [h.slot, h.compute ?? null, h.hasTranscript ?? false])).toEqual([
      [2, 'declined', false],
      [3, null, false],
      [1, 'failed', true],
    ])
    // The provider re-signs the same answer until its leaf hash is lower: the proof against it stays.
    const resigned = Array.from({ length: 64 }, (_, t) => heartbeat('0xsig', '0xroot', 2 + t)).find(
      (b) => merkleLeafHash(b) < merkleLeafHash(heartbeat('0xsig', '0xroot', 1)),
    )!
    expect(await put(1, resigned)).toBe(true)
    expect(await compute()).toEqual(['failed', 'declined', null])
    expect(await store.getTranscript('0xo', 1, 'r1')).toBe('failed')
    await store.close()
  })

  it("keeps a relayer's heartbeat answering the slot's compute challenge over its plain one, whichever leaf hash is lower", async () => {
    const store = new SqliteStore(freshPath())
    const plain = (timestamp: number) =>
      JSON.stringify({ heartbeat: { challenge: { challenge: {}, signature: '0xp' }, timestamp, gpus: null } })
    const checked = JSON.stringify({
      heartbeat: {
        challenge: { challenge: { compute: { seed: '0x', n: 4 } }, signature: '0xc' },
        timestamp: 1,
        gpus: null,
        commitment: '0xroot',
      },
    })
    // A plain heartbeat with a lower leaf hash than the checked one, and one with a higher.
    const plains = Array.from({ length: 64 }, (_, t) => plain(t))
    const lower = plains.find((b) => merkleLeafHash(b) < merkleLeafHash(checked))!
    const higher = plains.find((b) => merkleLeafHash(b) > merkleLeafHash(checked))!
    const put = (body: string) =>
      store.putHeartbeat({ orderId: '0xo', slot: 0, relayerId: 'r1', body, receivedAt: 1 })
    expect([await put(higher), await put(checked), await put(lower)]).toEqual([true, true, false])
    expect((await store.listHeartbeats('0xo')).map((h) => h.body)).toEqual([checked])
    await store.close()
  })

  it('counts orders by state in one grouped query, for the gauges', async () => {
    const store = new SqliteStore(freshPath())
    const terms = (i: number): OrderTerms => ({
      id: `0x${i.toString(16).padStart(64, '0')}`,
      chain: 'eip155:31337',
      renter: '0x01',
      token: 'native',
      amount: 1_000n,
      providerId: `0x${'aa'.repeat(32)}`,
      payout: '0x02',
      start: 0n,
      slotLength: 60,
      slots: 10,
      gpu: REFERENCE_ORDER_GPU,
    })
    for (let i = 1; i <= 5; i++) await store.insertOrder(terms(i), 1)
    for (const i of [1, 2]) await store.transitionOrder(terms(i).id, ['opened'], 'active', {}, 2)
    expect(await store.countOrdersByState()).toEqual({ opened: 3, active: 2 })
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

  it('records submissions and lists the pending ones of a signer by nonce', async () => {
    const store = new SqliteStore(freshPath())
    const base = {
      chain: CHAIN,
      signer: '0xs',
      payload: { raw: ['0xdead'], maxFee: 10n ** 30n },
      updatedAt: 1,
    }
    await store.putSubmission({ ...base, key: 'settle:b', nonce: 8, state: 'pending' })
    await store.putSubmission({ ...base, key: 'settle:a', nonce: 7, state: 'pending' })
    await store.putSubmission({ ...base, key: 'settle:c', nonce: 6, state: 'confirmed' })
    expect((await store.pendingSubmissions(CHAIN, '0xs')).map((s) => s.nonce)).toEqual([7, 8])
    await store.putSubmission({ ...base, key: 'settle:a', nonce: 7, state: 'confirmed' })
    expect((await store.getSubmission(CHAIN, 'settle:a'))?.state).toBe('confirmed')
    expect((await store.getSubmission(CHAIN, 'settle:a'))?.payload).toEqual(base.payload)
    await store.close()
  })
})
