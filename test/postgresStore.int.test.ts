import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPostgres, type Postgres } from '../devkit/chains/postgres.js'
import { isQantaraError } from '../src/errors.js'
import { PostgresStore } from '../src/store/postgres.js'
import { PG_MIGRATIONS } from '../src/store/postgresMigrations.js'
import { CHAIN, opened, storeContract } from './support/storeContract.js'

// A real PostgreSQL server from this machine's binaries (initdb into a temporary folder, a free loopback port).
let server: Postgres
let databases = 0
const freshUrl = () => server.database(`store_${databases++}`)

beforeAll(async () => {
  server = await startPostgres()
})
afterAll(async () => {
  await server?.stop()
})

describe('PostgresStore', () => {
  storeContract(async () => PostgresStore.open({ url: await freshUrl() }))

  it('migrates a database once when several processes open it at the same moment', async () => {
    const url = await freshUrl()
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open({ url })))
    expect(await Promise.all(stores.map((s) => s.schemaVersion()))).toEqual(
      Array(4).fill(PG_MIGRATIONS.at(-1)!.version),
    )
    const admin = new pg.Client({ connectionString: url })
    await admin.connect()
    const { rows } = await admin.query<{ n: string }>('SELECT COUNT(*) AS n FROM schema_migrations')
    await admin.end()
    expect(Number(rows[0]!.n)).toBe(PG_MIGRATIONS.length)
    await Promise.all(stores.map((s) => s.close()))
  })

  it('refuses a database written by a newer schema', async () => {
    const url = await freshUrl()
    await (await PostgresStore.open({ url })).close()
    const admin = new pg.Client({ connectionString: url })
    await admin.connect()
    await admin.query("INSERT INTO schema_migrations VALUES (99, 'future', 0)")
    await admin.end()
    const err: unknown = await PostgresStore.open({ url }).catch((e: unknown) => e)
    expect(isQantaraError(err, 'STORE_MIGRATION_FAILED')).toBe(true)
    expect((err as Error).message).toContain(
      `store schema version 99 is newer than this build knows (${PG_MIGRATIONS.at(-1)!.version})`,
    )
  })

  it('answers a retryable STORE_FAILED while the server is down, and works again once it is back, with its data', async () => {
    const url = await freshUrl()
    const store = await PostgresStore.open({ url })
    await store.commitEvents(CHAIN, [opened(1)], { height: 101n, hash: '0xb1' })
    server.process().kill('SIGKILL')
    await new Promise((r) => server.process().once('exit', r))
    const down: unknown = await store.getCheckpoint(CHAIN).catch((e: unknown) => e)
    expect(isQantaraError(down, 'STORE_FAILED')).toBe(true)
    expect((down as { retryable?: boolean }).retryable).toBe(true)
    expect(await store.isWritable()).toBe(false)
    await server.start()
    expect(await store.getCheckpoint(CHAIN)).toEqual({ height: 101n, hash: '0xb1' })
    expect(await store.commitEvents(CHAIN, [opened(2)], { height: 102n, hash: '0xb2' })).toBe(1)
    expect(await store.isWritable()).toBe(true)
    await store.close()
  })

  it('survives the server dying under a transaction in progress: the write fails as STORE_FAILED, the process lives on', async () => {
    const url = await freshUrl()
    const store = await PostgresStore.open({ url })
    // Another session holds the event log's lock, so the commit waits inside its transaction on a checked-out client.
    const holder = new pg.Client({ connectionString: url })
    holder.on('error', () => undefined)
    await holder.connect()
    await holder.query('SELECT pg_advisory_lock($1, $2)', [0x51616e74, 2])
    const commit = store
      .commitEvents(CHAIN, [opened(1)], { height: 101n, hash: '0xb1' })
      .catch((e: unknown) => e)
    await new Promise((r) => setTimeout(r, 300))
    server.process().kill('SIGKILL')
    await new Promise((r) => server.process().once('exit', r))
    expect(isQantaraError(await commit, 'STORE_FAILED')).toBe(true)
    await server.start()
    expect(await store.getCheckpoint(CHAIN)).toBeUndefined()
    expect(await store.commitEvents(CHAIN, [opened(1)], { height: 101n, hash: '0xb1' })).toBe(1)
    await holder.end().catch(() => undefined)
    await store.close()
  })

  it('refuses to open with a clear error when no server answers', async () => {
    const err: unknown = await PostgresStore.open({ url: 'postgres://qantara@127.0.0.1:1/none' }).catch(
      (e: unknown) => e,
    )
    expect(isQantaraError(err, 'STORE_FAILED')).toBe(true)
    expect((err as Error).message).toMatch(/cannot open PostgreSQL store/)
  })
})
