import type pg from 'pg'
import { QantaraError } from '../errors.js'

/**
 * The PostgreSQL store's versioned schema changes, applied in order in one
 * transaction under an advisory lock, so processes starting together on one
 * database migrate it once. Never edit a released migration: add the next one.
 * Version 1 is the SQLite store's schema as of its version 9. Keys that are
 * listed in order sort bytewise (COLLATE "C"), as SQLite sorts them, whatever
 * the database's locale.
 */
export const PG_MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'events, checkpoints, submissions, orders, heartbeats, providers, signatures, relayer sets',
    sql: `
      CREATE TABLE checkpoints (
        chain TEXT PRIMARY KEY,
        height TEXT NOT NULL,
        hash TEXT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE chain_events (
        seq BIGSERIAL PRIMARY KEY,
        chain TEXT NOT NULL,
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        height TEXT NOT NULL,
        body TEXT NOT NULL,
        order_id TEXT,
        UNIQUE (chain, key)
      );
      CREATE INDEX chain_events_by_order ON chain_events (chain, order_id) WHERE order_id IS NOT NULL;
      CREATE TABLE submissions (
        chain TEXT NOT NULL,
        key TEXT NOT NULL,
        signer TEXT NOT NULL,
        nonce BIGINT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'confirmed', 'already-settled', 'failed')),
        payload TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (chain, key)
      );
      CREATE INDEX submissions_pending ON submissions (chain, signer, state);
      CREATE TABLE orders (
        id TEXT COLLATE "C" PRIMARY KEY,
        chain TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('opened', 'active', 'ended', 'settling', 'payout-pending', 'settled', 'refunded', 'disputed')),
        terms TEXT NOT NULL,
        settlement TEXT,
        reason TEXT,
        uptime TEXT,
        tx_hash TEXT,
        btc_txid TEXT,
        btc_block TEXT,
        btc_sats TEXT,
        updated_at BIGINT NOT NULL,
        due_at BIGINT
      );
      CREATE INDEX orders_by_state ON orders (state);
      CREATE INDEX orders_due ON orders (due_at) WHERE due_at IS NOT NULL;
      CREATE SEQUENCE heartbeat_seq;
      CREATE TABLE heartbeats (
        order_id TEXT NOT NULL,
        slot INTEGER NOT NULL,
        relayer_id TEXT COLLATE "C" NOT NULL,
        body TEXT NOT NULL,
        received_at BIGINT NOT NULL,
        leaf_hash TEXT NOT NULL,
        gpus TEXT NOT NULL,
        compute TEXT CHECK (compute IN ('unanswered', 'passed', 'failed', 'declined')),
        transcript TEXT,
        seq BIGINT NOT NULL,
        PRIMARY KEY (order_id, slot, relayer_id)
      );
      CREATE INDEX heartbeats_by_seq ON heartbeats (order_id, seq);
      CREATE TABLE providers (
        provider_id TEXT COLLATE "C" PRIMARY KEY,
        seq BIGINT NOT NULL,
        body TEXT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE cursors (
        name TEXT PRIMARY KEY,
        seq BIGINT NOT NULL
      );
      CREATE TABLE signatures (
        order_id TEXT NOT NULL,
        relayer_id TEXT COLLATE "C" NOT NULL,
        settlement_hash TEXT NOT NULL,
        signer TEXT NOT NULL,
        signature TEXT NOT NULL,
        received_at BIGINT NOT NULL,
        PRIMARY KEY (order_id, relayer_id)
      );
      CREATE TABLE relayer_sets (
        chain TEXT PRIMARY KEY,
        version BIGINT NOT NULL,
        members TEXT NOT NULL,
        threshold INTEGER NOT NULL
      );
      CREATE TABLE liveness (
        id INTEGER PRIMARY KEY,
        at BIGINT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'probe jobs and the leader lease',
    // Workers claim probes with SKIP LOCKED; one process per relayer identity holds the lease and writes to chains.
    sql: `
      CREATE TABLE probe_jobs (
        order_id TEXT NOT NULL,
        slot INTEGER NOT NULL,
        terms TEXT NOT NULL,
        run_at BIGINT NOT NULL,
        slot_end BIGINT NOT NULL,
        attempt INTEGER NOT NULL,
        claimed_until BIGINT,
        PRIMARY KEY (order_id, slot)
      );
      CREATE INDEX probe_jobs_due ON probe_jobs (run_at);
      CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        token BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      );
    `,
  },
  {
    version: 3,
    name: 'heartbeats sequenced after they commit',
    // A kept heartbeat waits with no seq until a reader sequences it (PostgresHeartbeats.sequence): seqs then follow
    // commits, so one cursor over every order's heartbeats never skips one committed late.
    sql: `
      ALTER TABLE heartbeats ALTER COLUMN seq DROP NOT NULL;
      ALTER TABLE heartbeats ADD COLUMN written_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp();
      CREATE INDEX heartbeats_feed ON heartbeats (seq);
      CREATE INDEX heartbeats_unsequenced ON heartbeats (order_id) WHERE seq IS NULL;
    `,
  },
  {
    version: 4,
    name: 'probe job claims',
    // A job is finished only under the claim it was given; jobs of ended slots are found by their end.
    sql: `
      ALTER TABLE probe_jobs ADD COLUMN claim TEXT;
      CREATE INDEX probe_jobs_ends ON probe_jobs (slot_end);
    `,
  },
  {
    version: 5,
    name: 'retention of finished orders',
    sql: `
      ALTER TABLE orders ADD COLUMN compacted_at BIGINT;
      CREATE INDEX orders_compactable ON orders (updated_at) WHERE due_at IS NULL AND compacted_at IS NULL;
    `,
  },
  {
    version: 6,
    name: 'orders by renter and provider, submissions by state',
    // Listings filtered by renter or provider page by id through these (addresses kept as addressKey() gives them);
    // the relayer's status counts pending submissions per chain.
    sql: `
      ALTER TABLE orders ADD COLUMN renter TEXT;
      ALTER TABLE orders ADD COLUMN provider_id TEXT;
      UPDATE orders SET
        renter = CASE WHEN (terms::jsonb ->> 'renter') LIKE '0x%' THEN lower(terms::jsonb ->> 'renter') ELSE terms::jsonb ->> 'renter' END,
        provider_id = lower(terms::jsonb ->> 'providerId');
      CREATE INDEX orders_by_renter ON orders (renter, id);
      CREATE INDEX orders_by_provider ON orders (provider_id, id);
      CREATE INDEX orders_by_chain ON orders (chain, id);
      CREATE INDEX orders_by_state_id ON orders (state, id);
      CREATE INDEX submissions_by_state ON submissions (state, chain);
    `,
  },
]

const MIGRATION_LOCK = 1

/** Applies the migrations `c`'s database lacks, inside `c`'s transaction, under the store's advisory lock space. */
export async function applyMigrations(c: pg.PoolClient, lockSpace: number): Promise<void> {
  await c.query('SELECT pg_advisory_xact_lock($1, $2)', [lockSpace, MIGRATION_LOCK])
  await c.query(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
  )
  const current =
    (await c.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations')).rows[0]?.v ?? 0
  const latest = PG_MIGRATIONS.at(-1)?.version ?? 0
  if (current > latest)
    throw new QantaraError(
      'STORE_MIGRATION_FAILED',
      `store schema version ${current} is newer than this build knows (${latest})`,
      { metaMessages: ['Run the newer qantara release that wrote this store, or restore a backup.'] },
    )
  for (const m of PG_MIGRATIONS.filter((m) => m.version > current)) {
    try {
      await c.query(m.sql)
    } catch (cause) {
      throw new QantaraError('STORE_MIGRATION_FAILED', `migration ${m.version} (${m.name}) failed`, {
        cause,
      })
    }
    await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
      m.version,
      m.name,
      Date.now(),
    ])
  }
}
