/**
 * Versioned schema changes, applied in order, each in its own transaction.
 * Never edit a released migration: add the next one.
 */
export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'events, checkpoints, submissions',
    sql: `
      CREATE TABLE checkpoints (
        chain TEXT PRIMARY KEY,
        height TEXT NOT NULL,
        hash TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE chain_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        chain TEXT NOT NULL,
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        height TEXT NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (chain, key)
      ) STRICT;
      CREATE TABLE submissions (
        chain TEXT NOT NULL,
        key TEXT NOT NULL,
        signer TEXT NOT NULL,
        nonce INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'confirmed', 'already-settled', 'failed')),
        payload TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (chain, key)
      ) STRICT;
      CREATE INDEX submissions_pending ON submissions (chain, signer, state);
    `,
  },
  {
    version: 2,
    name: 'orders, heartbeats, providers, cursors',
    sql: `
      CREATE TABLE orders (
        id TEXT PRIMARY KEY,
        chain TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('opened', 'active', 'ended', 'settling', 'settled', 'refunded', 'disputed')),
        terms TEXT NOT NULL,
        settlement TEXT,
        reason TEXT,
        uptime TEXT,
        tx_hash TEXT,
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX orders_by_state ON orders (state);
      CREATE TABLE heartbeats (
        order_id TEXT NOT NULL,
        slot INTEGER NOT NULL,
        relayer_id TEXT NOT NULL,
        body TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (order_id, slot, relayer_id)
      ) STRICT;
      CREATE TABLE providers (
        provider_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        body TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE cursors (
        name TEXT PRIMARY KEY,
        seq INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 3,
    name: 'settlement signatures',
    sql: `
      CREATE TABLE signatures (
        order_id TEXT NOT NULL,
        relayer_id TEXT NOT NULL,
        settlement_hash TEXT NOT NULL,
        signer TEXT NOT NULL,
        signature TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (order_id, relayer_id)
      ) STRICT;
    `,
  },
  {
    version: 4,
    name: 'relayer sets as the chains report them',
    sql: `
      CREATE TABLE relayer_sets (
        chain TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        members TEXT NOT NULL,
        threshold INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 5,
    name: 'bitcoin payouts of orders',
    // SQLite cannot change a CHECK constraint in place: the table is rebuilt with the new state in it.
    sql: `
      CREATE TABLE orders_v5 (
        id TEXT PRIMARY KEY,
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
        updated_at INTEGER NOT NULL
      ) STRICT;
      INSERT INTO orders_v5 (id, chain, state, terms, settlement, reason, uptime, tx_hash, updated_at)
        SELECT id, chain, state, terms, settlement, reason, uptime, tx_hash, updated_at FROM orders;
      DROP TABLE orders;
      ALTER TABLE orders_v5 RENAME TO orders;
      CREATE INDEX orders_by_state ON orders (state);
    `,
  },
  {
    version: 6,
    name: 'chain events by order',
    // A vault co-signer asks whether an order's release is already on chain; the order is in the event's body.
    sql: `
      ALTER TABLE chain_events ADD COLUMN order_id TEXT;
      UPDATE chain_events SET order_id = coalesce(json_extract(body, '$.orderId'), json_extract(body, '$.order.id'));
      CREATE INDEX chain_events_by_order ON chain_events (chain, order_id) WHERE order_id IS NOT NULL;
    `,
  },
  {
    version: 7,
    name: 'heartbeat leaf hashes',
    // Settlement and gossip read only these; SQLite has no sha256, so the store fills them in for older rows after migrating.
    sql: `
      ALTER TABLE heartbeats ADD COLUMN leaf_hash TEXT;
    `,
  },
  {
    version: 8,
    name: 'heartbeat telemetry and compute challenges',
    // Settlement matches each heartbeat's GPUs against the order's and reads how its compute challenge went; the store
    // fills these in for older rows after migrating.
    sql: `
      ALTER TABLE heartbeats ADD COLUMN gpus TEXT;
      ALTER TABLE heartbeats ADD COLUMN compute TEXT CHECK (compute IN ('unanswered', 'passed', 'failed', 'declined'));
      ALTER TABLE heartbeats ADD COLUMN transcript TEXT;
    `,
  },
  {
    version: 9,
    name: 'orders by when they are next due',
    // The tick reads only due orders; a final order is never due (NULL), and every live one is due at once after this.
    sql: `
      ALTER TABLE orders ADD COLUMN due_at INTEGER;
      UPDATE orders SET due_at = 0 WHERE state NOT IN ('settled', 'refunded', 'disputed');
      CREATE INDEX orders_due ON orders (due_at) WHERE due_at IS NOT NULL;
    `,
  },
  {
    version: 10,
    name: 'retention of finished orders',
    // A finished order (due_at NULL) whose heartbeat bodies are dropped is marked, so it is compacted once.
    sql: `
      ALTER TABLE orders ADD COLUMN compacted_at INTEGER;
      CREATE INDEX orders_compactable ON orders (updated_at) WHERE due_at IS NULL AND compacted_at IS NULL;
    `,
  },
  {
    version: 11,
    name: 'orders by renter and provider, submissions by state',
    // Listings filtered by renter or provider page by id through these (addresses kept as addressKey() gives them);
    // the relayer's status counts pending submissions per chain.
    sql: `
      ALTER TABLE orders ADD COLUMN renter TEXT;
      ALTER TABLE orders ADD COLUMN provider_id TEXT;
      UPDATE orders SET
        renter = CASE WHEN json_extract(terms, '$.renter') GLOB '0x*' THEN lower(json_extract(terms, '$.renter')) ELSE json_extract(terms, '$.renter') END,
        provider_id = lower(json_extract(terms, '$.providerId'));
      CREATE INDEX orders_by_renter ON orders (renter, id);
      CREATE INDEX orders_by_provider ON orders (provider_id, id);
      CREATE INDEX orders_by_chain ON orders (chain, id);
      CREATE INDEX orders_by_state_id ON orders (state, id);
      CREATE INDEX submissions_by_state ON submissions (state, chain);
    `,
  },
]
