import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { ChainId } from '../caip2.js'
import type { ChainEvent, Checkpoint } from '../chains.js'
import { QantaraError } from '../errors.js'
import { parseExact, stringifyExact } from '../json.js'
import { MIGRATIONS } from './migrations.js'
import type { Store, StoredEvent, Submission, SubmissionState } from './store.js'

interface SubmissionRow { chain: string; key: string; signer: string; nonce: number; state: string; payload: string; updated_at: number }

/** The default store: one SQLite file in WAL mode. Heights and amounts are stored as exact text. */
export class SqliteStore implements Store {
  private readonly db: Database.Database

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    try {
      this.db = new Database(path)
      this.db.pragma('journal_mode = WAL')
      this.db.pragma('synchronous = FULL')
      this.db.pragma('busy_timeout = 5000')
      this.db.pragma('foreign_keys = ON')
    } catch (cause) {
      throw new QantaraError('STORE_FAILED', `cannot open SQLite store ${path}`, { cause })
    }
    this.migrate()
  }

  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT')
    const current = (this.db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0
    const latest = MIGRATIONS.at(-1)?.version ?? 0
    if (current > latest) {
      throw new QantaraError('STORE_MIGRATION_FAILED', `store schema version ${current} is newer than this build knows (${latest})`, {
        metaMessages: ['Run the newer qantara release that wrote this store, or restore a backup.'],
      })
    }
    for (const m of MIGRATIONS.filter((m) => m.version > current)) {
      try {
        this.db.transaction(() => {
          this.db.exec(m.sql)
          this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now())
        })()
      } catch (cause) {
        throw new QantaraError('STORE_MIGRATION_FAILED', `migration ${m.version} (${m.name}) failed`, { cause })
      }
    }
  }

  schemaVersion(): number {
    return (this.db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number }).v
  }

  getCheckpoint(chain: ChainId): Promise<Checkpoint | undefined> {
    const row = this.db.prepare('SELECT height, hash FROM checkpoints WHERE chain = ?').get(chain) as { height: string; hash: string } | undefined
    return Promise.resolve(row && { height: BigInt(row.height), hash: row.hash })
  }

  commitEvents(chain: ChainId, events: ChainEvent[], checkpoint: Checkpoint): Promise<number> {
    const insert = this.db.prepare('INSERT INTO chain_events (chain, key, kind, height, body) VALUES (?, ?, ?, ?, ?) ON CONFLICT (chain, key) DO NOTHING')
    const move = this.db.prepare(
      'INSERT INTO checkpoints (chain, height, hash, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (chain) DO UPDATE SET height = excluded.height, hash = excluded.hash, updated_at = excluded.updated_at',
    )
    const run = this.db.transaction(() => {
      let inserted = 0
      for (const e of events) {
        if (e.chain !== chain) throw new QantaraError('STORE_FAILED', `event ${e.key} belongs to ${e.chain}, not ${chain}`)
        inserted += insert.run(chain, e.key, e.kind, e.block.height.toString(), stringifyExact(e)).changes
      }
      move.run(chain, checkpoint.height.toString(), checkpoint.hash, Date.now())
      return inserted
    })
    return this.guard(() => run())
  }

  listEvents({ chain, afterSeq = 0, limit = 1000 }: { chain?: ChainId; afterSeq?: number; limit?: number }): Promise<StoredEvent[]> {
    const rows = (chain
      ? this.db.prepare('SELECT seq, body FROM chain_events WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?').all(chain, afterSeq, limit)
      : this.db.prepare('SELECT seq, body FROM chain_events WHERE seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit)) as { seq: number; body: string }[]
    return Promise.resolve(rows.map((r) => ({ seq: r.seq, event: parseExact<ChainEvent>(r.body) })))
  }

  getSubmission(chain: ChainId, key: string): Promise<Submission | undefined> {
    const row = this.db.prepare('SELECT * FROM submissions WHERE chain = ? AND key = ?').get(chain, key) as SubmissionRow | undefined
    return Promise.resolve(row && toSubmission(row))
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

  pendingSubmissions(chain: ChainId, signer: string): Promise<Submission[]> {
    const rows = this.db.prepare("SELECT * FROM submissions WHERE chain = ? AND signer = ? AND state = 'pending' ORDER BY nonce").all(chain, signer) as SubmissionRow[]
    return Promise.resolve(rows.map(toSubmission))
  }

  isWritable(): Promise<boolean> {
    try {
      this.db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (-1, 'probe', 0)").run()
      this.db.prepare('DELETE FROM schema_migrations WHERE version = -1').run()
      return Promise.resolve(true)
    } catch {
      return Promise.resolve(false)
    }
  }

  close(): Promise<void> {
    this.db.close()
    return Promise.resolve()
  }

  private guard<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn())
    } catch (cause) {
      if (cause instanceof QantaraError) return Promise.reject(cause)
      return Promise.reject(new QantaraError('STORE_FAILED', 'store write failed', { cause, retryable: true }))
    }
  }
}

function toSubmission(r: SubmissionRow): Submission {
  return { chain: r.chain as ChainId, key: r.key, signer: r.signer, nonce: r.nonce, state: r.state as SubmissionState, payload: parseExact(r.payload), updatedAt: r.updated_at }
}
