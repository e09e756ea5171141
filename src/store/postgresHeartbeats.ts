import type { PoolClient } from 'pg'
import { outranks } from '../computeSettlement.js'
import type { GpuSeen } from '../gpu/telemetryMatch.js'
import { VERDICT_RANK, type ComputeVerdict } from '../gpu/transcript.js'
import { storedFacts } from '../heartbeat/storedFacts.js'
import { merkleLeafHash } from '../merkle.js'
import { toHeartbeat, type HeartbeatRow } from './rows.js'
import type { HeartbeatKey, StoredHeartbeat, StoredTranscript } from './store.js'

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

  put(h: StoredHeartbeat): Promise<boolean> {
    return this.tx(async (c) => {
      await lockOrder(c, h.orderId)
      const leafHash = merkleLeafHash(h.body)
      const facts = storedFacts(h.body)
      const kept = (
        await c.query<{
          leaf_hash: string
          body: string
          compute: ComputeVerdict | null
          transcript: string | null
        }>(
          'SELECT leaf_hash, body, compute, transcript FROM heartbeats WHERE order_id = $1 AND slot = $2 AND relayer_id = $3',
          [h.orderId, h.slot, h.relayerId],
        )
      ).rows[0]
      if (!kept) {
        const inserted = await c.query(
          `INSERT INTO heartbeats (order_id, slot, relayer_id, body, received_at, leaf_hash, gpus, compute)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [h.orderId, h.slot, h.relayerId, h.body, h.receivedAt, leafHash, facts.gpus, facts.compute],
        )
        return inserted.rowCount === 1
      }
      if (
        !outranks({ leafHash, compute: facts.compute }, { leafHash: kept.leaf_hash, compute: kept.compute })
      )
        return false
      // As in the SQLite store: a re-signed heartbeat with the same challenge and commitment keeps the transcript.
      const same = facts.challengeKey !== null && facts.challengeKey === storedFacts(kept.body).challengeKey
      const updated = await c.query(
        `UPDATE heartbeats SET body = $4, received_at = $5, leaf_hash = $6, gpus = $7, compute = $8, transcript = $9,
         seq = NULL, written_at = clock_timestamp() WHERE order_id = $1 AND slot = $2 AND relayer_id = $3`,
        [
          h.orderId,
          h.slot,
          h.relayerId,
          h.body,
          h.receivedAt,
          leafHash,
          facts.gpus,
          same ? kept.compute : facts.compute,
          same ? kept.transcript : null,
        ],
      )
      return updated.rowCount === 1
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

  async list(orderId: string): Promise<StoredHeartbeat[]> {
    const rows = await this.query<HeartbeatRow>(
      `SELECT ${COLUMNS} FROM heartbeats WHERE order_id = $1 ORDER BY slot, relayer_id`,
      [orderId],
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
             SELECT order_id, slot, relayer_id FROM heartbeats WHERE seq IS NULL ORDER BY written_at LIMIT 5000 FOR UPDATE
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
