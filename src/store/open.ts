import { z } from 'zod'
import { QantaraError } from '../errors.js'
import { PostgresStore } from './postgres.js'
import { SqliteStore } from './sqlite.js'
import type { Store } from './store.js'

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/

/** Where the relayer keeps its state: one SQLite file (the embedded default), or a PostgreSQL database shared by its processes. */
export const storeConfigSchema = z
  .strictObject({
    path: z.string().min(1).optional().describe('SQLite database file; created with its folder when missing'),
    postgres: z
      .strictObject({
        url: z
          .string()
          .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
          .refine((u) => !/^postgres(ql)?:\/\/[^/@]*:[^/@]*@/.test(u) && !/[?&]password=/i.test(u), {
            message:
              'a password is never read from the config file: put the whole URL in the environment and use urlEnv',
          })
          .optional()
          .describe('postgres://user@host:port/database, without a password (use urlEnv for one)'),
        urlEnv: z
          .string()
          .regex(ENV_NAME, 'must be an environment variable name such as QANTARA_DATABASE_URL')
          .optional()
          .describe('environment variable holding the postgres:// URL, password included'),
        leaseTtlMs: z
          .number()
          .int()
          .min(3_000)
          .max(300_000)
          .default(15_000)
          .describe(
            "the leader lease's time to live: a standby takes over within about 1.25× this after the leader stops renewing",
          ),
        maxConnections: z
          .number()
          .int()
          .min(1)
          .max(1_000)
          .default(10)
          .describe('connections this process keeps at most'),
      })
      .refine((p) => (p.url === undefined) !== (p.urlEnv === undefined), {
        message: 'give exactly one of url or urlEnv',
      })
      .optional()
      .describe('PostgreSQL, for a relayer identity run as several processes (docs/OPERATING.md)'),
  })
  .extend({
    compactAfterDays: z
      .number()
      .int()
      .min(1)
      .max(3_650)
      .default(30)
      .describe(
        "retention: days after an order is finished that its heartbeat bodies and transcripts are dropped; each heartbeat's leaf hash, slot, witness, GPUs and verdict stay, which recompute its settlement's root",
      ),
  })
  .refine((s) => (s.path === undefined) !== (s.postgres === undefined), {
    message: 'give exactly one of path (SQLite) or postgres',
  })
  .describe('where the relayer keeps orders, events and checkpoints')

export type StoreConfig = z.infer<typeof storeConfigSchema>

/** Opens (and migrates) the store a config names; `path` is already resolved against the config's folder. */
export async function openStore(config: StoreConfig, env: NodeJS.ProcessEnv): Promise<Store> {
  if (config.path !== undefined) return new SqliteStore(config.path)
  const pg = config.postgres!
  const url = pg.url ?? env[pg.urlEnv!]
  if (!url)
    throw new QantaraError('CONFIG_INVALID', `store.postgres.urlEnv names ${pg.urlEnv}, which is not set`)
  return PostgresStore.open({ url, maxConnections: pg.maxConnections })
}
