import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { ChainId } from '../caip2.js'
import type { ChainEvent, Checkpoint } from '../chains.js'
import type { RelayerSet } from '../relayerSet.js'
import { QantaraError, errorMessage } from '../errors.js'
import { parseExact, stringifyExact } from '../json.js'
import { SqliteHeartbeats } from './sqliteHeartbeats.js'
import {
  orderFilterSql,
  orderIdOf,
  toOrder,
  toSubmission,
  type OrderRow,
  type SubmissionRow,
} from './rows.js'
import { addressKey, type OrderFilter, type SlotRange } from './store.js'
import { MIGRATIONS } from './migrations.js'
import type { OrderTerms } from '../order.js'
import { isTerminal } from '../orders/lifecycle.js'
import type { OrderPatch, OrderRecord, OrderState } from '../orders/record.js'
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

/** The default store: one SQLite file in WAL mode. Heights and amounts are stored as exact text. */
export class SqliteStore implements Store {
  private readonly db: Database.Database
  private readonly heartbeats: SqliteHeartbeats

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    try {
      this.db = new Database(path)
      this.db.pragma('journal_mode = WAL')
      this.db.pragma('synchronous = NORMAL')
      this.db.pragma('busy_timeout = 5000')
      this.db.pragma('foreign_keys = ON')
    } catch (cause) {
      throw new QantaraError('STORE_FAILED', `cannot open SQLite store ${path}`, { cause })
    }
    this.heartbeats = new SqliteHeartbeats(this.db, (sql) => this.stmt(sql))
    this.migrate()
  }

  private migrate(): void {
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT',
    )
    const current =
      (this.stmt('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0
    const latest = MIGRATIONS.at(-1)?.version ?? 0
    if (current > latest) {
      throw new QantaraError(
        'STORE_MIGRATION_FAILED',
        `store schema version ${current} is newer than this build knows (${latest})`,
        {
          metaMessages: ['Run the newer qantara release that wrote this store, or restore a backup.'],
        },
      )
    }
    for (const m of MIGRATIONS.filter((m) => m.version > current)) {
      try {
        this.db.transaction(() => {
          this.db.exec(m.sql)
          this.stmt('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
            m.version,
            m.name,
            Date.now(),
          )
        })()
      } catch (cause) {
        throw new QantaraError('STORE_MIGRATION_FAILED', `migration ${m.version} (${m.name}) failed`, {
          cause,
        })
      }
    }
    this.heartbeats.backfill()
  }

  schemaVersion(): number {
    return (this.stmt('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number }).v
  }

  getCheckpoint(chain: ChainId): Promise<Checkpoint | undefined> {
    return this.guard(() => {
      const row = this.stmt('SELECT height, hash FROM checkpoints WHERE chain = ?').get(chain) as
        { height: string; hash: string } | undefined
      return row && { height: BigInt(row.height), hash: row.hash }
    })
  }

  commitEvents(chain: ChainId, events: ChainEvent[], checkpoint: Checkpoint): Promise<number> {
    const insert = this.stmt(
      'INSERT INTO chain_events (chain, key, kind, height, body, order_id) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (chain, key) DO NOTHING',
    )
    const move = this.db.prepare(
      'INSERT INTO checkpoints (chain, height, hash, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (chain) DO UPDATE SET height = excluded.height, hash = excluded.hash, updated_at = excluded.updated_at',
    )
    const run = this.db.transaction(() => {
      let inserted = 0
      for (const e of events) {
        if (e.chain !== chain)
          throw new QantaraError('STORE_FAILED', `event ${e.key} belongs to ${e.chain}, not ${chain}`)
        inserted += insert.run(
          chain,
          e.key,
          e.kind,
          e.block.height.toString(),
          stringifyExact(e),
          orderIdOf(e) ?? null,
        ).changes
      }
      move.run(chain, checkpoint.height.toString(), checkpoint.hash, Date.now())
      return inserted
    })
    return this.guard(() => run())
  }

  listEvents({
    chain,
    afterSeq = 0,
    limit = 1000,
  }: {
    chain?: ChainId
    afterSeq?: number
    limit?: number
  }): Promise<StoredEvent[]> {
    return this.guard(() => {
      const rows = (
        chain
          ? this.stmt(
              'SELECT seq, body FROM chain_events WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?',
            ).all(chain, afterSeq, limit)
          : this.stmt('SELECT seq, body FROM chain_events WHERE seq > ? ORDER BY seq LIMIT ?').all(
              afterSeq,
              limit,
            )
      ) as { seq: number; body: string }[]
      return rows.map((r) => ({ seq: r.seq, event: parseExact<ChainEvent>(r.body) }))
    })
  }

  listOrderEvents(chain: ChainId, orderId: string): Promise<ChainEvent[]> {
    return this.guard(() => {
      const rows = this.stmt(
        'SELECT body FROM chain_events WHERE chain = ? AND order_id = ? ORDER BY seq',
      ).all(chain, orderId) as { body: string }[]
      return rows.map((r) => parseExact<ChainEvent>(r.body))
    })
  }

  getSubmission(chain: ChainId, key: string): Promise<Submission | undefined> {
    return this.guard(() => {
      const row = this.stmt('SELECT * FROM submissions WHERE chain = ? AND key = ?').get(chain, key) as
        SubmissionRow | undefined
      return row && toSubmission(row)
    })
  }

  putSubmission(s: Submission): Promise<void> {
    return this.guard(() => {
      this.db
        .prepare(
          `INSERT INTO submissions (chain, key, signer, nonce, state, payload, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (chain, key) DO UPDATE SET signer = excluded.signer, nonce = excluded.nonce, state = excluded.state, payload = excluded.payload, updated_at = excluded.updated_at`,
        )
        .run(s.chain, s.key, s.signer, s.nonce, s.state, stringifyExact(s.payload), s.updatedAt)
    })
  }

  countPendingSubmissions(): Promise<Record<string, number>> {
    return this.guard(() => {
      const rows = this.stmt(
        "SELECT chain, COUNT(*) AS n FROM submissions WHERE state = 'pending' GROUP BY chain",
      ).all() as { chain: string; n: number }[]
      return Object.fromEntries(rows.map((r) => [r.chain, r.n]))
    })
  }

  pendingSubmissions(chain: ChainId, signer: string): Promise<Submission[]> {
    return this.guard(() => {
      const rows = this.stmt(
        "SELECT * FROM submissions WHERE chain = ? AND signer = ? AND state = 'pending' ORDER BY nonce",
      ).all(chain, signer) as SubmissionRow[]
      return rows.map(toSubmission)
    })
  }

  insertOrder(terms: OrderTerms, now: number): Promise<boolean> {
    return this.guard(
      () =>
        this.stmt(
          "INSERT INTO orders (id, chain, state, terms, updated_at, due_at, renter, provider_id) VALUES (?, ?, 'opened', ?, ?, 0, ?, ?) ON CONFLICT (id) DO NOTHING",
        ).run(
          terms.id,
          terms.chain,
          stringifyExact(terms),
          now,
          addressKey(terms.renter),
          terms.providerId.toLowerCase(),
        ).changes === 1,
    )
  }

  getOrder(id: string): Promise<OrderRecord | undefined> {
    return this.guard(() => {
      const row = this.stmt('SELECT * FROM orders WHERE id = ?').get(id) as OrderRow | undefined
      return row && toOrder(row)
    })
  }

  listOrders(states?: readonly OrderState[]): Promise<OrderRecord[]> {
    return this.guard(() => {
      const rows = (
        states
          ? this.db
              .prepare(`SELECT * FROM orders WHERE state IN (${states.map(() => '?').join(',')}) ORDER BY id`)
              .all(...states)
          : this.stmt('SELECT * FROM orders ORDER BY id').all()
      ) as OrderRow[]
      return rows.map(toOrder)
    })
  }

  countOrdersByState(): Promise<Partial<Record<OrderState, number>>> {
    return this.guard(() => {
      const rows = this.stmt('SELECT state, COUNT(*) AS n FROM orders GROUP BY state').all() as {
        state: OrderState
        n: number
      }[]
      return Object.fromEntries(rows.map((r) => [r.state, r.n]))
    })
  }

  listDueOrders(nowMs: number, limit: number): Promise<OrderRecord[]> {
    return this.guard(() => {
      const rows = this.stmt(
        'SELECT * FROM orders WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at LIMIT ?',
      ).all(nowMs, limit) as OrderRow[]
      return rows.map(toOrder)
    })
  }

  compactFinished(beforeMs: number, limit: number, nowMs: number): Promise<number> {
    const pick = this.stmt(
      'SELECT id FROM orders WHERE due_at IS NULL AND compacted_at IS NULL AND updated_at < ? LIMIT ?',
    )
    const drop = this.stmt("UPDATE heartbeats SET body = '', transcript = NULL WHERE order_id = ?")
    const mark = this.stmt('UPDATE orders SET compacted_at = ? WHERE id = ?')
    return this.guard(() =>
      this.db.transaction(() => {
        const ids = (pick.all(beforeMs, limit) as { id: string }[]).map((r) => r.id)
        for (const id of ids) {
          drop.run(id)
          mark.run(nowMs, id)
        }
        return ids.length
      })(),
    )
  }

  makeLiveOrdersDue(): Promise<void> {
    return this.guard(() => {
      this.stmt('UPDATE orders SET due_at = 0 WHERE due_at IS NOT NULL').run()
    })
  }

  setOrderDues(dues: readonly OrderDue[]): Promise<void> {
    const set = this.stmt(
      "UPDATE orders SET due_at = ? WHERE id = ? AND state = ? AND state NOT IN ('settled', 'refunded', 'disputed')",
    )
    return this.guard(() => {
      this.db.transaction(() => {
        for (const d of dues) set.run(d.dueMs, d.id, d.state)
      })()
    })
  }

  listOrdersPage(
    afterId: string | undefined,
    limit: number,
    filter: OrderFilter = {},
  ): Promise<OrderRecord[]> {
    const { where, params } = orderFilterSql(filter, () => '?')
    return this.guard(() => {
      const rows = this.stmt(`SELECT * FROM orders WHERE id > ?${where} ORDER BY id LIMIT ?`).all(
        afterId ?? '',
        ...params,
        limit,
      ) as OrderRow[]
      return rows.map(toOrder)
    })
  }

  transitionOrder(
    id: string,
    from: readonly OrderState[],
    to: OrderState,
    patch: OrderPatch,
    now: number,
  ): Promise<boolean> {
    return this.guard(
      () =>
        this.db
          .prepare(
            `UPDATE orders SET state = ?, settlement = COALESCE(?, settlement), reason = COALESCE(?, reason), uptime = COALESCE(?, uptime), tx_hash = COALESCE(?, tx_hash),
         btc_txid = COALESCE(?, btc_txid), btc_block = COALESCE(?, btc_block), btc_sats = COALESCE(?, btc_sats), updated_at = ?, due_at = ?
       WHERE id = ? AND state IN (${from.map(() => '?').join(',')})`,
          )
          .run(
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
            ...from,
          ).changes === 1,
    )
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

  getProvider(providerId: string): Promise<{ seq: number; body: string } | undefined> {
    return this.guard(
      () =>
        this.stmt('SELECT seq, body FROM providers WHERE provider_id = ?').get(providerId) as
          { seq: number; body: string } | undefined,
    )
  }

  putProvider(providerId: string, seq: number, body: string, now: number): Promise<boolean> {
    return this.guard(
      () =>
        this.db
          .prepare(
            'INSERT INTO providers (provider_id, seq, body, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (provider_id) DO UPDATE SET seq = excluded.seq, body = excluded.body, updated_at = excluded.updated_at WHERE excluded.seq > providers.seq',
          )
          .run(providerId, seq, body, now).changes === 1,
    )
  }

  deleteProvider(providerId: string): Promise<void> {
    return this.guard(() => {
      this.stmt('DELETE FROM providers WHERE provider_id = ?').run(providerId)
    })
  }

  listProviders(): Promise<{ providerId: string; seq: number; body: string }[]> {
    return this.guard(() => {
      const rows = this.stmt('SELECT provider_id, seq, body FROM providers ORDER BY provider_id').all() as {
        provider_id: string
        seq: number
        body: string
      }[]
      return rows.map((r) => ({ providerId: r.provider_id, seq: r.seq, body: r.body }))
    })
  }

  putSignature(s: StoredSignature): Promise<boolean> {
    return this.guard(
      () =>
        this.stmt(
          `INSERT INTO signatures (order_id, relayer_id, settlement_hash, signer, signature, received_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (order_id, relayer_id) DO UPDATE SET settlement_hash = excluded.settlement_hash, signer = excluded.signer, signature = excluded.signature, received_at = excluded.received_at
       WHERE excluded.settlement_hash != signatures.settlement_hash`,
        ).run(s.orderId, s.relayerId, s.settlementHash, s.signer, s.signature, s.receivedAt).changes === 1,
    )
  }

  deleteSignature(orderId: string, relayerId: string): Promise<void> {
    return this.guard(() => {
      this.stmt('DELETE FROM signatures WHERE order_id = ? AND relayer_id = ?').run(orderId, relayerId)
    })
  }

  listSignatures(orderId: string): Promise<StoredSignature[]> {
    return this.guard(() => {
      const rows = this.stmt('SELECT * FROM signatures WHERE order_id = ? ORDER BY relayer_id').all(
        orderId,
      ) as {
        order_id: string
        relayer_id: string
        settlement_hash: string
        signer: string
        signature: string
        received_at: number
      }[]
      return rows.map((r) => ({
        orderId: r.order_id,
        relayerId: r.relayer_id,
        settlementHash: r.settlement_hash,
        signer: r.signer,
        signature: r.signature,
        receivedAt: r.received_at,
      }))
    })
  }

  putRelayerSet(chain: string, set: RelayerSet): Promise<boolean> {
    return this.guard(
      () =>
        this.stmt(
          'INSERT INTO relayer_sets (chain, version, members, threshold) VALUES (?, ?, ?, ?) ON CONFLICT (chain) DO UPDATE SET version = excluded.version, members = excluded.members, threshold = excluded.threshold WHERE excluded.version > relayer_sets.version',
        ).run(chain, set.version, JSON.stringify(set.members), set.threshold).changes === 1,
    )
  }

  getRelayerSet(chain: string): Promise<RelayerSet | undefined> {
    return this.guard(() => {
      const row = this.stmt('SELECT version, members, threshold FROM relayer_sets WHERE chain = ?').get(
        chain,
      ) as { version: number; members: string; threshold: number } | undefined
      return row
        ? {
            version: BigInt(row.version),
            members: JSON.parse(row.members) as string[],
            threshold: row.threshold,
          }
        : undefined
    })
  }

  getCursor(name: string): Promise<number> {
    return this.guard(() => {
      const row = this.stmt('SELECT seq FROM cursors WHERE name = ?').get(name) as { seq: number } | undefined
      return row?.seq ?? 0
    })
  }

  setCursor(name: string, seq: number): Promise<void> {
    return this.guard(() => {
      this.stmt(
        'INSERT INTO cursors (name, seq) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq',
      ).run(name, seq)
    })
  }

  isWritable(): Promise<boolean> {
    try {
      this.stmt("INSERT INTO schema_migrations (version, name, applied_at) VALUES (-1, 'probe', 0)").run()
      this.stmt('DELETE FROM schema_migrations WHERE version = -1').run()
      return Promise.resolve(true)
    } catch {
      return Promise.resolve(false)
    }
  }

  close(): Promise<void> {
    this.db.close()
    return Promise.resolve()
  }

  private readonly statements = new Map<string, Database.Statement>()

  /** Prepared statements are compiled once and reused: preparing costs more than most of these queries. */
  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql)
    if (!st) this.statements.set(sql, (st = this.db.prepare(sql)))
    return st
  }

  /** Any failure of SQLite (busy, disk, a row that does not parse) as a retryable STORE_FAILED: the caller tries again later rather than act on half an answer. */
  private guard<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn())
    } catch (cause) {
      if (cause instanceof QantaraError) return Promise.reject(cause)
      return Promise.reject(
        new QantaraError('STORE_FAILED', `store failed: ${errorMessage(cause)}`, { cause, retryable: true }),
      )
    }
  }
}
