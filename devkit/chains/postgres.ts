import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { freePort } from '../freePort.js'
import { waitFor } from '../waitFor.js'

export interface Postgres {
  /** The cluster's superuser on its loopback port; `database(name)` gives a fresh database's URL. */
  url: string
  port: number
  /** The postmaster's process (SIGKILL it to crash the server; `start` brings it back on the same data). */
  process(): ChildProcess
  database(name: string): Promise<string>
  start(): Promise<void>
  stop(): Promise<void>
}

/** This machine's PostgreSQL server binaries: QANTARA_PG_BIN, `pg_config --bindir`, or Debian's newest. */
export function postgresBinDir(): string {
  if (process.env.QANTARA_PG_BIN) return process.env.QANTARA_PG_BIN
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim()
    if (existsSync(join(dir, 'initdb'))) return dir
  } catch {
    // No pg_config on the PATH: look where Debian puts the server.
  }
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    : []
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0]
  if (!newest)
    throw new Error('no PostgreSQL server found: install Debian package postgresql, or set QANTARA_PG_BIN')
  return join(root, newest, 'bin')
}

/**
 * PostgreSQL refuses to run as root: under root, the cluster belongs to the
 * `postgres` account (created by Debian's package) and its programs run as it.
 */
function asServerUser(): { prefix: string[]; owner?: { uid: number; gid: number } } {
  if (process.getuid?.() !== 0) return { prefix: [] }
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
  return {
    prefix: ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--'],
    owner: { uid, gid },
  }
}

/**
 * A throwaway PostgreSQL cluster from the machine's own binaries: initdb into
 * a temporary folder, the server on a free loopback port, trusted local
 * logins, fsync off for speed: a SIGKILLed server loses no committed
 * transaction (the OS holds what it wrote); only a machine crash would.
 */
export async function startPostgres(): Promise<Postgres> {
  const bin = postgresBinDir()
  const dir = mkdtempSync(join(tmpdir(), 'qantara-pg-'))
  const cleanup = () =>
    process.env.QANTARA_KEEP_TMP ? undefined : rmSync(dir, { recursive: true, force: true })
  const data = join(dir, 'data')
  const user = asServerUser()
  mkdirSync(data, { mode: 0o700 })
  if (user.owner) {
    chownSync(dir, user.owner.uid, user.owner.gid)
    chownSync(data, user.owner.uid, user.owner.gid)
  }
  const run = (program: string, args: string[]) => {
    const [cmd, ...rest] = [...user.prefix, join(bin, program), ...args]
    return { cmd: cmd!, args: rest }
  }
  const init = run('initdb', [
    '-D',
    data,
    '-U',
    'qantara',
    '--auth=trust',
    '--no-sync',
    '-E',
    'UTF8',
    '--locale=C',
  ])
  execFileSync(init.cmd, init.args, { stdio: 'pipe' })
  const port = await freePort()
  const url = `postgres://qantara@127.0.0.1:${port}/postgres`
  let child: ChildProcess | undefined
  const reap = () => child?.kill('SIGKILL')
  process.once('exit', reap)
  const ready = async () => {
    const client = new pg.Client({ connectionString: url })
    client.on('error', () => undefined)
    try {
      await client.connect()
      await client.query('SELECT 1')
      return true
    } catch {
      return undefined
    } finally {
      await client.end().catch(() => undefined)
    }
  }
  const start = async () => {
    const server = run('postgres', [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=200',
    ])
    // After a SIGKILL the old server's backends may hold its shared memory for a moment: start again until they are gone.
    const deadline = Date.now() + 30_000
    for (;;) {
      let log = ''
      const c = (child = spawn(server.cmd, server.args, { stdio: ['ignore', 'ignore', 'pipe'] }))
      c.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4_000)))
      const gone = new AbortController()
      const exited = new Promise<'exited'>((resolve) => c.once('exit', () => resolve('exited')))
      void exited.then(() => gone.abort())
      const up = waitFor(ready, 'PostgreSQL to take connections', 30_000, 100, gone.signal).then(
        () => 'up' as const,
      )
      if ((await Promise.race([up, exited])) === 'up') return
      await up.catch(() => undefined)
      const busy = /pre-existing shared memory block|lock file .* already exists/.test(log)
      if (!busy || Date.now() > deadline) throw new Error(`postgres exited:\n${log}`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }
  const stop = async () => {
    const c = child
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise((resolve) => c.once('exit', resolve))
    // Fast shutdown: open connections are closed, nothing waits on clients.
    c.kill('SIGINT')
    await exited
  }
  await start()
  return {
    url,
    port,
    process: () => child!,
    start,
    stop: async () => {
      await stop()
      process.removeListener('exit', reap)
      cleanup()
    },
    async database(name: string) {
      const admin = new pg.Client({ connectionString: url })
      await admin.connect()
      try {
        await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`)
      } finally {
        await admin.end()
      }
      return `postgres://qantara@127.0.0.1:${port}/${name}`
    },
  }
}
