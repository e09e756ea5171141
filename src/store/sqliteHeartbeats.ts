import type Database from 'better-sqlite3'
import type { GpuSeen } from '../gpu/telemetryMatch.js'
import { VERDICT_RANK, type ComputeVerdict } from '../gpu/transcript.js'
import { outranks } from '../computeSettlement.js'
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

type Stmt = (sql: string) => Database.Statement

/**
 * The heartbeats table of the SQLite store: one kept heartbeat per order,
 * slot and relayer (one answering a compute challenge, then the lowest leaf
 * hash), with the columns settlement reads
 * (leaf hash, GPUs, compute verdict) beside the body, and a compute
 * challenge's transcript once there is one.
 */
export class SqliteHeartbeats {
  constructor(
    private readonly db: Database.Database,
    private readonly stmt: Stmt,
  ) {}

  /** Fills the derived columns of rows kept before they existed. */
  backfill(): void {
    const unfilled = this.db
      .prepare('SELECT rowid AS id, body FROM heartbeats WHERE leaf_hash IS NULL OR gpus IS NULL')
      .all() as { id: number; body: string }[]
    const fill = this.db.prepare('UPDATE heartbeats SET leaf_hash = ?, gpus = ?, compute = ? WHERE rowid = ?')
    this.db.transaction(() => {
      for (const r of unfilled) {
        const facts = storedFacts(r.body)
        fill.run(merkleLeafHash(r.body), facts.gpus, facts.compute, r.id)
      }
    })()
  }

  /** Keeps each heartbeat as if written one after another, in one transaction (a commit per probe was its largest cost). */
  putMany(hs: readonly StoredHeartbeat[]): boolean[] {
    return this.db.transaction(() => hs.map((h) => this.put(h)))()
  }

  private put(h: StoredHeartbeat): boolean {
    const leafHash = merkleLeafHash(h.body)
    const facts = storedFacts(h.body)
    const kept = this.stmt(
      'SELECT leaf_hash, body, compute, transcript FROM heartbeats WHERE order_id = ? AND slot = ? AND relayer_id = ?',
    ).get(h.orderId, h.slot, h.relayerId) as
      | { leaf_hash: string; body: string; compute: ComputeVerdict | null; transcript: string | null }
      | undefined
    if (!kept)
      return (
        this.stmt(
          'INSERT INTO heartbeats (order_id, slot, relayer_id, body, received_at, leaf_hash, gpus, compute) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        ).run(h.orderId, h.slot, h.relayerId, h.body, h.receivedAt, leafHash, facts.gpus, facts.compute)
          .changes === 1
      )
    // The same order as settlement's: a heartbeat answering a compute challenge is the record, then the lowest leaf hash.
    if (!outranks({ leafHash, compute: facts.compute }, { leafHash: kept.leaf_hash, compute: kept.compute }))
      return false
    // A transcript answers a challenge and a commitment, not these bytes: a re-signed heartbeat with both the same
    // (another timestamp) keeps it, so replacing the heartbeat cannot wipe a provider's signed wrong answer.
    const same = facts.challengeKey !== null && facts.challengeKey === storedFacts(kept.body).challengeKey
    const compute = same ? kept.compute : facts.compute
    const transcript = same ? kept.transcript : null
    // The replacement takes the next rowid, so peers whose cursor is past the old one still pull it.
    return (
      this.stmt(
        'UPDATE heartbeats SET body = ?, received_at = ?, leaf_hash = ?, gpus = ?, compute = ?, transcript = ?, rowid = (SELECT MAX(rowid) + 1 FROM heartbeats) WHERE order_id = ? AND slot = ? AND relayer_id = ?',
      ).run(h.body, h.receivedAt, leafHash, facts.gpus, compute, transcript, h.orderId, h.slot, h.relayerId)
        .changes === 1
    )
  }

  /**
   * Keeps a transcript for the kept heartbeat with this challenge and
   * commitment if its verdict ranks above the one held (unanswered < passed
   * < failed): a provider that signed a wrong answer anywhere is held to it.
   * The row moves to the end so peers pull the transcript.
   */
  putTranscript(t: StoredTranscript): boolean {
    return this.db.transaction(() => {
      const kept = this.stmt(
        'SELECT body, compute FROM heartbeats WHERE order_id = ? AND slot = ? AND relayer_id = ?',
      ).get(t.orderId, t.slot, t.relayerId) as { body: string; compute: ComputeVerdict | null } | undefined
      if (!kept || kept.compute === null || storedFacts(kept.body).challengeKey !== t.challengeKey)
        return false
      if (VERDICT_RANK[t.verdict] <= VERDICT_RANK[kept.compute]) return false
      return (
        this.stmt(
          'UPDATE heartbeats SET compute = ?, transcript = ?, rowid = (SELECT MAX(rowid) + 1 FROM heartbeats) WHERE order_id = ? AND slot = ? AND relayer_id = ?',
        ).run(t.verdict, t.transcript, t.orderId, t.slot, t.relayerId).changes === 1
      )
    })()
  }

  getTranscript(orderId: string, slot: number, relayerId: string): string | undefined {
    const row = this.stmt(
      'SELECT transcript FROM heartbeats WHERE order_id = ? AND slot = ? AND relayer_id = ?',
    ).get(orderId, slot, relayerId) as { transcript: string | null } | undefined
    return row?.transcript ?? undefined
  }

  list(orderId: string, slots?: SlotRange): StoredHeartbeat[] {
    const [from, to] = slotBounds(slots)
    return this.rows(
      'SELECT 0 AS seq, order_id, slot, relayer_id, body, received_at, transcript IS NOT NULL AS has_transcript, compute FROM heartbeats WHERE order_id = ? AND slot >= ? AND slot < ? ORDER BY slot, relayer_id',
      orderId,
      from,
      to,
    ).map(({ seq: _seq, ...h }) => h)
  }

  listKeys(orderId: string): HeartbeatKey[] {
    const rows = this.stmt(
      'SELECT slot, relayer_id, leaf_hash, gpus, compute FROM heartbeats WHERE order_id = ? ORDER BY slot, relayer_id',
    ).all(orderId) as {
      slot: number
      relayer_id: string
      leaf_hash: string
      gpus: string
      compute: ComputeVerdict | null
    }[]
    return rows.map((r) => ({
      orderId,
      slot: r.slot,
      relayerId: r.relayer_id,
      leafHash: r.leaf_hash,
      gpus: JSON.parse(r.gpus) as GpuSeen[] | null,
      compute: r.compute,
    }))
  }

  count(orderId: string): number {
    return (
      this.stmt('SELECT COUNT(*) AS n FROM heartbeats WHERE order_id = ?').get(orderId) as { n: number }
    ).n
  }

  listAfter(orderId: string, afterSeq: number, limit: number): (StoredHeartbeat & { seq: number })[] {
    // rowid only grows here: heartbeats are never deleted, a replaced one moves to the end, and SQLite's single writer commits them in rowid order.
    return this.rows(
      'SELECT rowid AS seq, order_id, slot, relayer_id, body, received_at, transcript IS NOT NULL AS has_transcript, compute FROM heartbeats WHERE order_id = ? AND rowid > ? ORDER BY rowid LIMIT ?',
      orderId,
      afterSeq,
      limit,
    )
  }

  feed(afterSeq: number, limit: number): (StoredHeartbeat & { seq: number })[] {
    return this.rows(
      'SELECT rowid AS seq, order_id, slot, relayer_id, body, received_at, transcript IS NOT NULL AS has_transcript, compute FROM heartbeats WHERE rowid > ? ORDER BY rowid LIMIT ?',
      afterSeq,
      limit,
    )
  }

  private rows(sql: string, ...params: (string | number)[]): (StoredHeartbeat & { seq: number })[] {
    return (this.stmt(sql).all(...params) as HeartbeatRow[]).map(toHeartbeat)
  }
}
