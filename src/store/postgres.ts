import pg from 'pg'
import type { ChainId } from '../caip2.js'
import type { ChainEvent, Checkpoint } from '../chains.js'
import type { RelayerSet } from '../relayerSet.js'
import { QantaraError, errorMessage, isQantaraError } from '../errors.js'
import { parseExact, stringifyExact } from '../json.js'
import type { OrderTerms } from '../order.js'
import { isTerminal } from '../orders/lifecycle.js'
import type { OrderPatch, OrderRecord, OrderState } from '../orders/record.js'
import type { FinishedProbe, LeaderLeases, Lease, ProbeJob, ProbeJobs } from './jobs.js'
import { PostgresHeartbeats } from './postgresHeartbeats.js'
import { LEASE_CURRENT, PostgresJobs } from './postgresJobs.js'
import { applyMigrations } from './postgresMigrations.js'
import {
  orderFilterSql,
  orderIdOf,
  toOrder,
  toSubmission,
  type OrderRow,
  type SubmissionRow,
} from './rows.js'
import { addressKey, type OrderFilter, type SlotRange } from './store.js'
import type {
  HeartbeatKey,
  OrderDue,
  Store,
  StoredEvent,
  StoredHeartbeat,
  StoredSignature,
  StoredTranscript,
  Submission,
} from './store.js'

/** Advisory lock keys (two-int form, first half "Qant"): one for migrating, one for the event log's writers. */
const LOCK_SPACE = 0x51616e74
const EVENT_LOG_LOCK = 2

/** int8 (counts, sequences, ms timestamps) as numbers: every one this store keeps is far below 2^53. */
const INT8_OID = 20
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID
      ? (v: string) => Number(v)
      : (pg.types.getTypeParser(oid, format ?? 'text') as (
          v: string,
        ) => unknown)) as pg.CustomTypesConfig['getTypeParser'],
}

export interface PostgresStoreOptions {
  url: string
  /** Connections this process keeps open at most. */
  maxConnections?: number
  /** How long a query may run before PostgreSQL cancels it. */
  statementTimeoutMs?: number
}

/**
 * The store for several relayer processes sharing one database (issue 16):
 * the same interface and rules as the SQLite store, heights and amounts as
 * exact text. The event log and each order's heartbeats are written under
 * advisory locks, so readers' cursors never skip a row committed late.
 */
export class PostgresStore implements Store, ProbeJobs, LeaderLeases {
  private readonly heartbeats: PostgresHeartbeats

  private readonly jobs: PostgresJobs
  private fenced?: { lease: Lease; marginMs: number }

  private constructor(
    private readonly pool: pg.Pool,
    private readonly leasePool: pg.Pool,
  ) {
    this.heartbeats = new PostgresHeartbeats(
      (sql, params) => this.query(sql, params),
      (fn) => this.tx(fn),
    )
    this.jobs = new PostgresJobs(
      (sql, params) => this.query(sql, params),
      (sql, params) => this.exec(sql, params),
      {
        query: <R>(sql: string, params: unknown[]) =>
          this.guard(async () => (await leasePool.query(sql, params)).rows as R[]),
        exec: (sql, params) => this.guard(async () => (await leasePool.query(sql, params)).rowCount ?? 0),
      },
    )
  }

  /** Connects and migrates; refuses a database written by a newer schema. */
  static async open(o: PostgresStoreOptions): Promise<PostgresStore> {
    const pools = [
      { max: o.maxConnections ?? 10, statement_timeout: o.statementTimeoutMs ?? 30_000 },
      // The leader lease's two connections (a renewal and a release may overlap), quick to give up.
      { max: 2, statement_timeout: 5_000 },
    ].map((p) => {
      const pool = new pg.Pool({
        connectionString: o.url,
        connectionTimeoutMillis: 10_000,
        types: TYPES,
        ...p,
      })
      // A client that loses its server (a restart, a failover) emits 'error': the pool listens while the client is idle,
      // nobody while it is checked out for a transaction, and an unheard 'error' kills the process. The query in flight
      // fails on its own and is reported as STORE_FAILED.
      pool.on('error', () => undefined)
      pool.on('connect', (client) => client.on('error', () => undefined))
      return pool
    })
    const store = new PostgresStore(pools[0]!, pools[1]!)
    try {
      await store.migrate()
    } catch (cause) {
      await store.close().catch(() => undefined)
      if (isQantaraError(cause, 'STORE_MIGRATION_FAILED')) throw cause
      throw new QantaraError('STORE_FAILED', `cannot open PostgreSQL store: ${errorMessage(cause)}`, {
        cause,
        retryable: true,
      })
    }
    return store
  }

  private migrate(): Promise<void> {
    return this.tx((c) => applyMigrations(c, LOCK_SPACE))
  }

  async schemaVersion(): Promise<number> {
    const [row] = await this.query<{ v: number }>('SELECT MAX(version) AS v FROM schema_migrations', [])
    return row!.v
  }

  async getCheckpoint(chain: ChainId): Promise<Checkpoint | undefined> {
    const [row] = await this.query<{ height: string; hash: string }>(
      'SELECT height, hash FROM checkpoints WHERE chain = $1',
      [chain],
    )
    return row && { height: BigInt(row.height), hash: row.hash }
  }

  commitEvents(chain: ChainId, events: ChainEvent[], checkpoint: Checkpoint): Promise<number> {
    for (const e of events)
      if (e.chain !== chain)
        return Promise.reject(
          new QantaraError('STORE_FAILED', `event ${e.key} belongs to ${e.chain}, not ${chain}`),
        )
    return this.tx(async (c) => {
      // Readers follow the log by seq: one writer at a time commits seqs in order, so none is skipped.
      await c.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_SPACE, EVENT_LOG_LOCK])
      let inserted = 0
      for (const e of events) {
        const r = await c.query(
          'INSERT INTO chain_events (chain, key, kind, height, body, order_id) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chain, key) DO NOTHING',
          [chain, e.key, e.kind, e.block.height.toString(), stringifyExact(e), orderIdOf(e) ?? null],
        )
        inserted += r.rowCount ?? 0
      }
      await c.query(
        `INSERT INTO checkpoints (chain, height, hash, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (chain) DO UPDATE SET height = excluded.height, hash = excluded.hash, updated_at = excluded.updated_at`,
        [chain, checkpoint.height.toString(), checkpoint.hash, Date.now()],
      )
      return inserted
    })
  }

  async listEvents({
    chain,
    afterSeq = 0,
    limit = 1000,
  }: {
    chain?: ChainId
    afterSeq?: number
    limit?: number
  }): Promise<StoredEvent[]> {
    const rows = chain
      ? await this.query<{ seq: number; body: string }>(
          'SELECT seq, body FROM chain_events WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3',
          [chain, afterSeq, limit],
        )
      : await this.query<{ seq: number; body: string }>(
          'SELECT seq, body FROM chain_events WHERE seq > $1 ORDER BY seq LIMIT $2',
          [afterSeq, limit],
        )
    return rows.map((r) => ({ seq: r.seq, event: parseExact<ChainEvent>(r.body) }))
  }

  async listOrderEvents(chain: ChainId, orderId: string): Promise<ChainEvent[]> {
    const rows = await this.query<{ body: string }>(
      'SELECT body FROM chain_events WHERE chain = $1 AND order_id = $2 ORDER BY seq',
      [chain, orderId],
    )
    return rows.map((r) => parseExact<ChainEvent>(r.body))
  }

  async getSubmission(chain: ChainId, key: string): Promise<Submission | undefined> {
    const [row] = await this.query<SubmissionRow>('SELECT * FROM submissions WHERE chain = $1 AND key = $2', [
      chain,
      key,
    ])
    return row && toSubmission(row)
  }

  async putSubmission(s: Submission): Promise<void> {
    const values = [s.chain, s.key, s.signer, s.nonce, s.state, stringifyExact(s.payload), s.updatedAt]
    const upsert = `ON CONFLICT (chain, key) DO UPDATE SET signer = excluded.signer, nonce = excluded.nonce, state = excluded.state,
       payload = excluded.payload, updated_at = excluded.updated_at`
    const fence = this.fenced
    if (!fence) {
      await this.exec(
        `INSERT INTO submissions (chain, key, signer, nonce, state, payload, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ${upsert}`,
        values,
      )
      return
    }
    // Recorded only under a current lease: every chain write is recorded before it is broadcast, so a leader deposed
    // since its last renewal broadcasts nothing new.
    const written = await this.exec(
      `INSERT INTO submissions (chain, key, signer, nonce, state, payload, updated_at)
       SELECT $5, $6, $7, $8, $9, $10, $11 WHERE ${LEASE_CURRENT} ${upsert}`,
      [fence.lease.name, fence.lease.holder, fence.lease.token, fence.marginMs, ...values],
    )
    if (written !== 1)
      throw new QantaraError('FENCED', `the leader lease ${fence.lease.name} is no longer this process's`, {
        context: { token: fence.lease.token },
      })
  }

  enqueueProbes(jobs: readonly ProbeJob[]): Promise<number> {
    return this.jobs.enqueueProbes(jobs)
  }

  claimProbes(nowMs: number, limit: number, holdMs: number): Promise<ProbeJob[]> {
    return this.jobs.claimProbes(nowMs, limit, holdMs)
  }

  finishProbes(finished: readonly FinishedProbe[]): Promise<void> {
    return this.jobs.finishProbes(finished)
  }

  acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    return this.jobs.acquireLease(name, holder, ttlMs)
  }

  renewLease(lease: Lease, ttlMs: number): Promise<boolean> {
    return this.jobs.renewLease(lease, ttlMs)
  }

  leaseHolder(name: string): Promise<{ holder: string; token: number; expiresInMs: number } | undefined> {
    return this.jobs.leaseHolder(name)
  }

  releaseLease(lease: Lease): Promise<void> {
    return this.jobs.releaseLease(lease)
  }

  fence(lease: Lease, marginMs: number): void {
    this.fenced = { lease, marginMs }
  }

  async pendingSubmissions(chain: ChainId, signer: string): Promise<Submission[]> {
    const rows = await this.query<SubmissionRow>(
      "SELECT * FROM submissions WHERE chain = $1 AND signer = $2 AND state = 'pending' ORDER BY nonce",
      [chain, signer],
    )
    return rows.map(toSubmission)
  }

  async insertOrder(terms: OrderTerms, now: number): Promise<boolean> {
    return (
      (await this.exec(
        "INSERT INTO orders (id, chain, state, terms, updated_at, due_at, renter, provider_id) VALUES ($1, $2, 'opened', $3, $4, 0, $5, $6) ON CONFLICT (id) DO NOTHING",
        [
          terms.id,
          terms.chain,
          stringifyExact(terms),
          now,
          addressKey(terms.renter),
          terms.providerId.toLowerCase(),
        ],
      )) === 1
    )
  }

  async getOrder(id: string): Promise<OrderRecord | undefined> {
    const [row] = await this.query<OrderRow>('SELECT * FROM orders WHERE id = $1', [id])
    return row && toOrder(row)
  }

  async listOrders(states?: readonly OrderState[]): Promise<OrderRecord[]> {
    const rows = states
      ? await this.query<OrderRow>('SELECT * FROM orders WHERE state = ANY($1::text[]) ORDER BY id', [states])
      : await this.query<OrderRow>('SELECT * FROM orders ORDER BY id', [])
    return rows.map(toOrder)
  }

  async countPendingSubmissions(): Promise<Record<string, number>> {
    const rows = await this.query<{ chain: string; n: number }>(
      "SELECT chain, COUNT(*) AS n FROM submissions WHERE state = 'pending' GROUP BY chain",
      [],
    )
    return Object.fromEntries(rows.map((r) => [r.chain, Number(r.n)]))
  }

  async countOrdersByState(): Promise<Partial<Record<OrderState, number>>> {
    const rows = await this.query<{ state: OrderState; n: number }>(
      'SELECT state, COUNT(*) AS n FROM orders GROUP BY state',
      [],
    )
    return Object.fromEntries(rows.map((r) => [r.state, r.n]))
  }

  async listDueOrders(nowMs: number, limit: number): Promise<OrderRecord[]> {
    const rows = await this.query<OrderRow>(
      'SELECT * FROM orders WHERE due_at IS NOT NULL AND due_at <= $1 ORDER BY due_at LIMIT $2',
      [nowMs, limit],
    )
    return rows.map(toOrder)
  }

  compactFinished(beforeMs: number, limit: number, nowMs: number): Promise<number> {
    return this.tx(async (c) => {
      const { rows } = await c.query<{ id: string }>(
        `UPDATE orders SET compacted_at = $3 WHERE id IN (
           SELECT id FROM orders WHERE due_at IS NULL AND compacted_at IS NULL AND updated_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED
         ) RETURNING id`,
        [beforeMs, limit, nowMs],
      )
      if (rows.length)
        await c.query("UPDATE heartbeats SET body = '', transcript = NULL WHERE order_id = ANY($1::text[])", [
          rows.map((r) => r.id),
        ])
      return rows.length
    })
  }

  async makeLiveOrdersDue(): Promise<void> {
    await this.exec('UPDATE orders SET due_at = 0 WHERE due_at IS NOT NULL AND due_at > 0', [])
  }

  async setOrderDues(dues: readonly OrderDue[]): Promise<void> {
    if (dues.length === 0) return
    // One statement for a tick's orders: one round trip, not one per order.
    await this.exec(
      `UPDATE orders o SET due_at = d.due FROM unnest($1::text[], $2::text[], $3::bigint[]) AS d(id, state, due)
       WHERE o.id = d.id AND o.state = d.state AND o.state NOT IN ('settled', 'refunded', 'disputed')`,
      [dues.map((d) => d.id), dues.map((d) => d.state), dues.map((d) => d.dueMs)],
    )
  }

  async listOrdersPage(
    afterId: string | undefined,
    limit: number,
    filter: OrderFilter = {},
  ): Promise<OrderRecord[]> {
    const { where, params } = orderFilterSql(filter, (i) => `$${i + 2}`)
    const rows = await this.query<OrderRow>(
      `SELECT * FROM orders WHERE id > $1${where} ORDER BY id LIMIT $${params.length + 2}`,
      [afterId ?? '', ...params, limit],
    )
    return rows.map(toOrder)
  }

  async transitionOrder(
    id: string,
    from: readonly OrderState[],
    to: OrderState,
    patch: OrderPatch,
    now: number,
  ): Promise<boolean> {
    const changed = await this.exec(
      `UPDATE orders SET state = $1, settlement = COALESCE($2, settlement), reason = COALESCE($3, reason), uptime = COALESCE($4, uptime),
       tx_hash = COALESCE($5, tx_hash), btc_txid = COALESCE($6, btc_txid), btc_block = COALESCE($7, btc_block),
       btc_sats = COALESCE($8, btc_sats), updated_at = $9, due_at = $10
       WHERE id = $11 AND state = ANY($12::text[])`,
      [
        to,
        patch.settlement ? stringifyExact(patch.settlement) : null,
        patch.reason ?? null,
        patch.uptime ?? null,
        patch.txHash ?? null,
        patch.btcTxid ?? null,
        patch.btcBlock ?? null,
        patch.btcSats?.toString() ?? null,
        now,
        isTerminal(to) ? null : 0,
        id,
        from,
      ],
    )
    return changed === 1
  }

  putHeartbeats(hs: readonly StoredHeartbeat[]): Promise<boolean[]> {
    return this.guard(() => this.heartbeats.putMany(hs))
  }

  putTranscript(t: StoredTranscript): Promise<boolean> {
    return this.guard(() => this.heartbeats.putTranscript(t))
  }

  getTranscript(orderId: string, slot: number, relayerId: string): Promise<string | undefined> {
    return this.guard(() => this.heartbeats.getTranscript(orderId, slot, relayerId))
  }

  listHeartbeats(orderId: string, slots?: SlotRange): Promise<StoredHeartbeat[]> {
    return this.guard(() => this.heartbeats.list(orderId, slots))
  }

  listHeartbeatKeys(orderId: string): Promise<HeartbeatKey[]> {
    return this.guard(() => this.heartbeats.listKeys(orderId))
  }

  countHeartbeats(orderId: string): Promise<number> {
    return this.guard(() => this.heartbeats.count(orderId))
  }

  listHeartbeatsAfter(
    orderId: string,
    afterSeq: number,
    limit: number,
  ): Promise<(StoredHeartbeat & { seq: number })[]> {
    return this.guard(() => this.heartbeats.listAfter(orderId, afterSeq, limit))
  }

  listHeartbeatFeed(afterSeq: number, limit: number): Promise<(StoredHeartbeat & { seq: number })[]> {
    return this.guard(() => this.heartbeats.feed(afterSeq, limit))
  }

  async getProvider(providerId: string): Promise<{ seq: number; body: string } | undefined> {
    const [row] = await this.query<{ seq: number; body: string }>(
      'SELECT seq, body FROM providers WHERE provider_id = $1',
      [providerId],
    )
    return row
  }

  async putProvider(providerId: string, seq: number, body: string, now: number): Promise<boolean> {
    return (
      (await this.exec(
        `INSERT INTO providers (provider_id, seq, body, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (provider_id) DO UPDATE SET seq = excluded.seq, body = excluded.body, updated_at = excluded.updated_at
         WHERE excluded.seq > providers.seq`,
        [providerId, seq, body, now],
      )) === 1
    )
  }

  async deleteProvider(providerId: string): Promise<void> {
    await this.query('DELETE FROM providers WHERE provider_id = $1', [providerId])
  }

  async listProviders(): Promise<{ providerId: string; seq: number; body: string }[]> {
    const rows = await this.query<{ provider_id: string; seq: number; body: string }>(
      'SELECT provider_id, seq, body FROM providers ORDER BY provider_id',
      [],
    )
    return rows.map((r) => ({ providerId: r.provider_id, seq: r.seq, body: r.body }))
  }

  async putSignature(s: StoredSignature): Promise<boolean> {
    return (
      (await this.exec(
        `INSERT INTO signatures (order_id, relayer_id, settlement_hash, signer, signature, received_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (order_id, relayer_id) DO UPDATE SET settlement_hash = excluded.settlement_hash, signer = excluded.signer,
         signature = excluded.signature, received_at = excluded.received_at
         WHERE excluded.settlement_hash != signatures.settlement_hash`,
        [s.orderId, s.relayerId, s.settlementHash, s.signer, s.signature, s.receivedAt],
      )) === 1
    )
  }

  async deleteSignature(orderId: string, relayerId: string): Promise<void> {
    await this.query('DELETE FROM signatures WHERE order_id = $1 AND relayer_id = $2', [orderId, relayerId])
  }

  async listSignatures(orderId: string): Promise<StoredSignature[]> {
    const rows = await this.query<{
      order_id: string
      relayer_id: string
      settlement_hash: string
      signer: string
      signature: string
      received_at: number
    }>('SELECT * FROM signatures WHERE order_id = $1 ORDER BY relayer_id', [orderId])
    return rows.map((r) => ({
      orderId: r.order_id,
      relayerId: r.relayer_id,
      settlementHash: r.settlement_hash,
      signer: r.signer,
      signature: r.signature,
      receivedAt: r.received_at,
    }))
  }

  async putRelayerSet(chain: string, set: RelayerSet): Promise<boolean> {
    return (
      (await this.exec(
        `INSERT INTO relayer_sets (chain, version, members, threshold) VALUES ($1, $2, $3, $4)
         ON CONFLICT (chain) DO UPDATE SET version = excluded.version, members = excluded.members, threshold = excluded.threshold
         WHERE excluded.version > relayer_sets.version`,
        [chain, set.version.toString(), JSON.stringify(set.members), set.threshold],
      )) === 1
    )
  }

  async getRelayerSet(chain: string): Promise<RelayerSet | undefined> {
    const [row] = await this.query<{ version: number; members: string; threshold: number }>(
      'SELECT version, members, threshold FROM relayer_sets WHERE chain = $1',
      [chain],
    )
    return row
      ? {
          version: BigInt(row.version),
          members: JSON.parse(row.members) as string[],
          threshold: row.threshold,
        }
      : undefined
  }

  async getCursor(name: string): Promise<number> {
    const [row] = await this.query<{ seq: number }>('SELECT seq FROM cursors WHERE name = $1', [name])
    return row?.seq ?? 0
  }

  async setCursor(name: string, seq: number): Promise<void> {
    await this.query(
      'INSERT INTO cursors (name, seq) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq',
      [name, seq],
    )
  }

  async isWritable(): Promise<boolean> {
    try {
      await this.pool.query(
        'INSERT INTO liveness (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at',
        [Date.now()],
      )
      return true
    } catch {
      return false
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.end(), this.leasePool.end()])
  }

  private query<R>(sql: string, params: unknown[]): Promise<R[]> {
    return this.guard(async () => (await this.pool.query(sql, params)).rows as R[])
  }

  /** Rows a write changed. */
  private exec(sql: string, params: unknown[]): Promise<number> {
    return this.guard(async () => (await this.pool.query(sql, params)).rowCount ?? 0)
  }

  private tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.guard(async () => {
      const c = await this.pool.connect()
      try {
        await c.query('BEGIN')
        const result = await fn(c)
        await c.query('COMMIT')
        c.release()
        return result
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined)
        // A connection that failed mid-transaction may be broken: dropped, not returned to the pool.
        c.release(true)
        throw err
      }
    })
  }

  /** Any failure of PostgreSQL (connection lost, timeout, a row that does not parse) as a retryable STORE_FAILED. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (cause) {
      if (cause instanceof QantaraError) throw cause
      throw new QantaraError('STORE_FAILED', `store failed: ${errorMessage(cause)}`, {
        cause,
        retryable: true,
      })
    }
  }
}
