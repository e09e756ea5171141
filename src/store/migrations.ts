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
]
