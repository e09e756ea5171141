import type { PoolClient } from 'pg'
import { outranks } from '../computeSettlement.js'
import type { GpuSeen } from '../gpu/telemetryMatch.js'
import { VERDICT_RANK, type ComputeVerdict } from '../gpu/transcript.js'
import { storedFacts } from '../heartbeat/storedFacts.js'
import { merkleLeafHash } from '../merkle.js'
import { toHeartbeat, type HeartbeatRow } from './rows.js'
import {
  slotBounds,
  type HeartbeatKey,
  type SlotRange,
  type StoredHeartbeat,
  type StoredTranscript,
} from './store.js'

type Query = <R>(sql: string, params: unknown[]) => Promise<R[]>
type InTransaction = <T>(fn: (c: PoolClient) => Promise<T>) => Promise<T>

const COLUMNS =
  'seq, order_id, slot, relayer_id, body, received_at, transcript IS NOT NULL AS has_transcript, compute'

/**
 * The heartbeats table on PostgreSQL: the same keeping rule as the SQLite
 * store's (one per order, slot and relayer: one answering a compute
 * challenge, then the lowest leaf hash). A write holds its order's advisory
 * lock until it commits (the keeping rule reads, then writes) and leaves the
 * row with no seq; readers sequence committed rows first (`sequence`), so
 * seqs follow commits and a cursor never passes a row that later appears
 * below it, however many workers write.
 */
export class PostgresHeartbeats {
  constructor(
    private readonly query: Query,
    private readonly tx: InTransaction,
  ) {}

  /**
   * Keeps each heartbeat as if written one after another, in one transaction
   * of four round trips however many there are (five when one replaces a kept
   * row): their orders' locks, the rows they compete with, one insert, then
   * one update. A transaction per heartbeat was a probe's largest cost.
   * (Not prepared: a generic plan cannot see how few rows the arrays hold
   * and joins them against the whole table.)
   */
  putMany(hs: readonly StoredHeartbeat[]): Promise<boolean[]> {
    if (hs.length === 0) return Promise.resolve([])
    return this.tx(async (c) => {
      await lockOrders(
        c,
        hs.map((h) => h.orderId),
      )
      // What each key holds by now: its stored row, or one written earlier in this batch (`write`).
      const held = new Map<string, { kept: Competitor; stored: boolean; write?: Kept }>()
      const rows = await c.query<Competitor & Pick<Kept, 'order_id' | 'slot' | 'relayer_id'>>({
        // Locked in the sequencer's order (see `sequence`): a batch replacing several rows and a sequencer numbering them
        // never each hold one the other waits for.
        text: `SELECT order_id, slot, relayer_id, leaf_hash, body, compute, transcript FROM heartbeats
          JOIN unnest($1::text[], $2::int[], $3::text[]) AS k(order_id, slot, relayer_id) USING (order_id, slot, relayer_id)
          ORDER BY written_at, order_id, slot, relayer_id FOR UPDATE OF heartbeats`,
        values: [hs.map((h) => h.orderId), hs.map((h) => h.slot), hs.map((h) => h.relayerId)],
      })
      for (const row of rows.rows) held.set(keyOf(row), { kept: row, stored: true })
      const kept = hs.map((h) => {
        const leafHash = merkleLeafHash(h.body)
        const facts = storedFacts(h.body)
        const key = keyOf({ order_id: h.orderId, slot: h.slot, relayer_id: h.relayerId })
        const was = held.get(key)
        if (
          was &&
          !outranks(
            { leafHash, compute: facts.compute },
            { leafHash: was.kept.leaf_hash, compute: was.kept.compute },
          )
        )
          return false
        // As in the SQLite store: a re-signed heartbeat with the same challenge and commitment keeps the transcript.
        const same =
          was !== undefined &&
          facts.challengeKey !== null &&
          facts.challengeKey === storedFacts(was.kept.body).challengeKey
        const row: Kept = {
          order_id: h.orderId,
          slot: h.slot,
          relayer_id: h.relayerId,
          body: h.body,
          received_at: h.receivedAt,
          leaf_hash: leafHash,
          gpus: facts.gpus,
          compute: same ? was.kept.compute : facts.compute,
          transcript: same ? was.kept.transcript : null,
        }
        held.set(key, { kept: row, stored: was?.stored ?? false, write: row })
        return true
      })
      const written = [...held.values()].filter((v) => v.write)
      const inserts = written.filter((v) => !v.stored).map((v) => v.write!)
      const updates = written.filter((v) => v.stored).map((v) => v.write!)
      if (inserts.length > 0)
        await c.query({
          text: `INSERT INTO heartbeats (order_id, slot, relayer_id, body, received_at, leaf_hash, gpus, compute, transcript)
            SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[])`,
          values: columns(inserts),
        })
      if (updates.length > 0)
        await c.query({
          text: `UPDATE heartbeats h SET body = u.body, received_at = u.received_at, leaf_hash = u.leaf_hash, gpus = u.gpus,
              compute = u.compute, transcript = u.transcript, seq = NULL, written_at = clock_timestamp()
            FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[])
              AS u(order_id, slot, relayer_id, body, received_at, leaf_hash, gpus, compute, transcript)
            WHERE h.order_id = u.order_id AND h.slot = u.slot AND h.relayer_id = u.relayer_id`,
          values: columns(updates),
        })
      return kept
    })
  }

  putTranscript(t: StoredTranscript): Promise<boolean> {
    return this.tx(async (c) => {
      await lockOrder(c, t.orderId)
      const kept = (
        await c.query<{ body: string; compute: ComputeVerdict | null }>(
          'SELECT body, compute FROM heartbeats WHERE order_id = $1 AND slot = $2 AND relayer_id = $3',
          [t.orderId, t.slot, t.relayerId],
        )
      ).rows[0]
      if (!kept || kept.compute === null || storedFacts(kept.body).challengeKey !== t.challengeKey)
        return false
      if (VERDICT_RANK[t.verdict] <= VERDICT_RANK[kept.compute]) return false
      const updated = await c.query(
        `UPDATE heartbeats SET compute = $4, transcript = $5, seq = NULL, written_at = clock_timestamp()
         WHERE order_id = $1 AND slot = $2 AND relayer_id = $3`,
        [t.orderId, t.slot, t.relayerId, t.verdict, t.transcript],
      )
      return updated.rowCount === 1
    })
  }

  async getTranscript(orderId: string, slot: number, relayerId: string): Promise<string | undefined> {
    const [row] = await this.query<{ transcript: string | null }>(
      'SELECT transcript FROM heartbeats WHERE order_id = $1 AND slot = $2 AND relayer_id = $3',
      [orderId, slot, relayerId],
    )
    return row?.transcript ?? undefined
  }

  async list(orderId: string, slots?: SlotRange): Promise<StoredHeartbeat[]> {
    const rows = await this.query<HeartbeatRow>(
      `SELECT ${COLUMNS} FROM heartbeats WHERE order_id = $1 AND slot >= $2 AND slot < $3 ORDER BY slot, relayer_id`,
      [orderId, ...slotBounds(slots)],
    )
    return rows.map((r) => {
      const { seq: _seq, ...h } = toHeartbeat(r)
      return h
    })
  }

  async listKeys(orderId: string): Promise<HeartbeatKey[]> {
    const rows = await this.query<{
      slot: number
      relayer_id: string
      leaf_hash: string
      gpus: string
      compute: ComputeVerdict | null
    }>(
      'SELECT slot, relayer_id, leaf_hash, gpus, compute FROM heartbeats WHERE order_id = $1 ORDER BY slot, relayer_id',
      [orderId],
    )
    return rows.map((r) => ({
      orderId,
      slot: r.slot,
      relayerId: r.relayer_id,
      leafHash: r.leaf_hash,
      gpus: JSON.parse(r.gpus) as GpuSeen[] | null,
      compute: r.compute,
    }))
  }

  async feed(afterSeq: number, limit: number): Promise<(StoredHeartbeat & { seq: number })[]> {
    await this.sequence()
    const rows = await this.query<HeartbeatRow>(
      `SELECT ${COLUMNS} FROM heartbeats WHERE seq > $1 ORDER BY seq LIMIT $2`,
      [afterSeq, limit],
    )
    return rows.map(toHeartbeat)
  }

  /**
   * Gives every committed heartbeat still without a seq the next ones, one
   * sequencer at a time (a transaction-scoped lock): a heartbeat committed
   * after this sequencer's snapshot waits for the next one and gets a higher
   * seq, so a reader's cursor never passes a heartbeat that will appear
   * below it. Readers sequence before they read; writers never wait on it.
   * At most 5,000 rows a time, the oldest first, so a backlog (nobody read the
   * feed for a while) is worked off read by read, never in one statement
   * that outlasts the statement timeout.
   */
  private sequence(): Promise<void> {
    return this.tx(async (c) => {
      await c.query("SELECT pg_advisory_xact_lock(hashtextextended('heartbeats:sequencer', 0))")
      await c.query(
        // nextval in the outer list runs in the inner list's order: a replaced row keeps its place after older writes.
        `UPDATE heartbeats h SET seq = fresh.next FROM (
           SELECT order_id, slot, relayer_id, nextval('heartbeat_seq') AS next FROM (
             SELECT order_id, slot, relayer_id FROM heartbeats WHERE seq IS NULL
             ORDER BY written_at, order_id, slot, relayer_id LIMIT 5000 FOR UPDATE
           ) unsequenced
         ) fresh WHERE h.order_id = fresh.order_id AND h.slot = fresh.slot AND h.relayer_id = fresh.relayer_id`,
      )
    })
  }

  async count(orderId: string): Promise<number> {
    const [row] = await this.query<{ n: number }>(
      'SELECT COUNT(*) AS n FROM heartbeats WHERE order_id = $1',
      [orderId],
    )
    return row!.n
  }

  async listAfter(
    orderId: string,
    afterSeq: number,
    limit: number,
  ): Promise<(StoredHeartbeat & { seq: number })[]> {
    await this.sequence()
    const rows = await this.query<HeartbeatRow>(
      `SELECT ${COLUMNS} FROM heartbeats WHERE order_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [orderId, afterSeq, limit],
    )
    return rows.map(toHeartbeat)
  }
}

/** Holds the order's heartbeat lock until the transaction ends (see the class comment). */
async function lockOrder(c: PoolClient, orderId: string): Promise<void> {
  await c.query("SELECT pg_advisory_xact_lock(hashtextextended('heartbeats:' || $1, 0))", [orderId])
}

/** Takes the orders' locks in one statement, in the order of their lock keys: two writers never wait on each other in a cycle. */
async function lockOrders(c: PoolClient, orderIds: readonly string[]): Promise<void> {
  await c.query({
    text: `SELECT COUNT(pg_advisory_xact_lock(k)) FROM (
        SELECT DISTINCT hashtextextended('heartbeats:' || id, 0) AS k FROM unnest($1::text[]) AS id ORDER BY k
      ) keys`,
    values: [[...new Set(orderIds)]],
  })
}

/** A heartbeats row as the keeping rule reads and writes it. */
interface Kept {
  order_id: string
  slot: number
  relayer_id: string
  body: string
  received_at: number
  leaf_hash: string
  gpus: string
  compute: ComputeVerdict | null
  transcript: string | null
}

/** What a new heartbeat competes with under the keeping rule. */
type Competitor = Pick<Kept, 'leaf_hash' | 'body' | 'compute' | 'transcript'>

function keyOf(r: Pick<Kept, 'order_id' | 'slot' | 'relayer_id'>): string {
  return `${r.order_id}\n${r.slot}\n${r.relayer_id}`
}

/** Rows as the column arrays `unnest` reads, in the order of `Kept`'s fields. */
function columns(rows: readonly Kept[]): unknown[][] {
  return [
    rows.map((r) => r.order_id),
    rows.map((r) => r.slot),
    rows.map((r) => r.relayer_id),
    rows.map((r) => r.body),
    rows.map((r) => r.received_at),
    rows.map((r) => r.leaf_hash),
    rows.map((r) => r.gpus),
    rows.map((r) => r.compute),
    rows.map((r) => r.transcript),
  ]
}
