import { randomUUID } from 'node:crypto'
import { parseExact, stringifyExact } from '../json.js'
import type { OrderTerms } from '../order.js'
import type { FinishedProbe, Lease, ProbeJob } from './jobs.js'

type Query = <R>(sql: string, params: unknown[]) => Promise<R[]>
type Exec = (sql: string, params: unknown[]) => Promise<number>

/** The database's clock in ms: leases are timed by it, whatever the processes' clocks say. */
export const DB_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint'

/** The probe job queue and leader lease of the PostgreSQL store (see jobs.ts). */
export class PostgresJobs {
  constructor(
    private readonly query: Query,
    private readonly exec: Exec,
    /** The lease's own connections: a pool busy with feeds and jobs must not make a healthy leader miss its renewal. */
    private readonly lease: { query: Query; exec: Exec },
  ) {}

  async enqueueProbes(jobs: readonly ProbeJob[]): Promise<number> {
    if (jobs.length === 0) return 0
    return this.exec(
      `INSERT INTO probe_jobs (order_id, slot, terms, run_at, slot_end, attempt)
       SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::bigint[], $5::bigint[], $6::int[])
       ON CONFLICT (order_id, slot) DO NOTHING`,
      [
        jobs.map((j) => j.terms.id),
        jobs.map((j) => j.slot),
        jobs.map((j) => stringifyExact(j.terms)),
        jobs.map((j) => j.runAt),
        jobs.map((j) => j.slotEnd),
        jobs.map((j) => j.attempt),
      ],
    )
  }

  async claimProbes(nowMs: number, limit: number, holdMs: number): Promise<ProbeJob[]> {
    const claim = randomUUID()
    await this.exec('DELETE FROM probe_jobs WHERE slot_end < $1', [nowMs])
    // SKIP LOCKED: workers claiming at once each take other rows instead of queueing behind one another.
    const rows = await this.query<{
      terms: string
      slot: number
      run_at: number
      slot_end: number
      attempt: number
    }>(
      `UPDATE probe_jobs j SET claimed_until = $2, claim = $4 FROM (
         SELECT order_id, slot FROM probe_jobs
         WHERE run_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1)
         ORDER BY run_at LIMIT $3 FOR UPDATE SKIP LOCKED
       ) due WHERE j.order_id = due.order_id AND j.slot = due.slot
       RETURNING j.terms, j.slot, j.run_at, j.slot_end, j.attempt`,
      [nowMs, nowMs + holdMs, limit, claim],
    )
    return rows.map((r) => ({
      terms: parseExact<OrderTerms>(r.terms),
      slot: r.slot,
      runAt: r.run_at,
      slotEnd: r.slot_end,
      attempt: r.attempt,
      claim,
    }))
  }

  async finishProbes(finished: readonly FinishedProbe[]): Promise<void> {
    if (finished.length === 0) return
    const done = finished.filter((f) => f.retryAt === undefined).map((f) => f.job)
    const again = finished.filter((f) => f.retryAt !== undefined)
    // One statement: the done jobs dropped, the ones to try again rescheduled, each only under its own claim.
    await this.exec(
      `WITH done AS (
         DELETE FROM probe_jobs j USING unnest($1::text[], $2::int[], $3::text[]) AS d(order_id, slot, claim)
         WHERE j.order_id = d.order_id AND j.slot = d.slot AND j.claim = d.claim
       )
       UPDATE probe_jobs j SET run_at = r.run_at, attempt = j.attempt + 1, claimed_until = NULL, claim = NULL
       FROM unnest($4::text[], $5::int[], $6::text[], $7::bigint[]) AS r(order_id, slot, claim, run_at)
       WHERE j.order_id = r.order_id AND j.slot = r.slot AND j.claim = r.claim`,
      [
        done.map((j) => j.terms.id),
        done.map((j) => j.slot),
        done.map((j) => j.claim ?? null),
        again.map((f) => f.job.terms.id),
        again.map((f) => f.job.slot),
        again.map((f) => f.job.claim ?? null),
        again.map((f) => f.retryAt),
      ],
    )
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    const [row] = await this.lease.query<{ token: number }>(
      `INSERT INTO leases (name, holder, token, expires_at) VALUES ($1, $2, 1, ${DB_NOW_MS} + $3)
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = leases.token + 1, expires_at = excluded.expires_at
       WHERE leases.expires_at < ${DB_NOW_MS}
       RETURNING token`,
      [name, holder, ttlMs],
    )
    return row && { name, holder, token: row.token }
  }

  async renewLease(lease: Lease, ttlMs: number): Promise<boolean> {
    return (
      (await this.lease.exec(
        `UPDATE leases SET expires_at = ${DB_NOW_MS} + $4
         WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at >= ${DB_NOW_MS}`,
        [lease.name, lease.holder, lease.token, ttlMs],
      )) === 1
    )
  }

  async leaseHolder(
    name: string,
  ): Promise<{ holder: string; token: number; expiresInMs: number } | undefined> {
    const [row] = await this.lease.query<{ holder: string; token: number; expires_in_ms: number }>(
      `SELECT holder, token, expires_at - ${DB_NOW_MS} AS expires_in_ms FROM leases WHERE name = $1`,
      [name],
    )
    return row && { holder: row.holder, token: row.token, expiresInMs: row.expires_in_ms }
  }

  async releaseLease(lease: Lease): Promise<void> {
    await this.lease.exec(
      `UPDATE leases SET expires_at = ${DB_NOW_MS} - 1 WHERE name = $1 AND holder = $2 AND token = $3`,
      [lease.name, lease.holder, lease.token],
    )
  }
}

/** The condition a fenced write runs under: the lease is current and has `marginMs` left ($1 name, $2 holder, $3 token, $4 margin). */
// FOR SHARE: a standby's grant of the lease (an UPDATE of the row) waits until this write commits or rolls back.
export const LEASE_CURRENT = `EXISTS (SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at >= ${DB_NOW_MS} + $4 FOR SHARE)`
