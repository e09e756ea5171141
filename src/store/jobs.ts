import type { OrderTerms } from '../order.js'

/** One slot's probe of one order, for any process of the relayer identity to run. */
export interface ProbeJob {
  terms: OrderTerms
  slot: number
  /** When to send the challenge: drawn at random inside the slot. */
  runAt: number
  slotEnd: number
  /** 1 for the first try; a failed one is tried once more at another instant (see Prober). */
  attempt: number
  /** Set on a claimed job: the claim it was given under, which alone may finish it. */
  claim?: string
}

export interface FinishedProbe {
  job: Pick<ProbeJob, 'terms' | 'slot' | 'claim'>
  retryAt?: number
}

/**
 * Probe jobs shared by the processes of one relayer identity (issue 16): the
 * leader enqueues one per order and slot; workers claim due ones, each
 * claim held for a while so a worker that dies mid-probe releases it.
 */
export interface ProbeJobs {
  /** Enqueues jobs, in one write, except those whose order and slot has one already; returns how many it did. */
  enqueueProbes(jobs: readonly ProbeJob[]): Promise<number>
  /** Claims at most `limit` due jobs nobody holds, for `holdMs`; jobs of ended slots are dropped. */
  claimProbes(nowMs: number, limit: number, holdMs: number): Promise<ProbeJob[]>
  /**
   * Each job done: dropped; or, with `retryAt`, tried again then as the next
   * attempt. Only under the job's current claim: a worker whose claim lapsed
   * (and was given to another) changes nothing. One write for them all.
   */
  finishProbes(finished: readonly FinishedProbe[]): Promise<void>
}

/** A leader lease as granted: `token` rises with every grant, so a deposed holder's token is never current again. */
export interface Lease {
  name: string
  holder: string
  token: number
}

/**
 * The lease that makes one process of a relayer identity its leader, timed
 * by the database's clock (the processes' clocks may differ).
 */
export interface LeaderLeases {
  /** Grants the lease to `holder` if it is free or lapsed; undefined while another holds it. */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease | undefined>
  /** Extends a held lease; false when it lapsed or another holder took it. */
  renewLease(lease: Lease, ttlMs: number): Promise<boolean>
  /** Who holds the lease now and for how much longer, by the database's clock (for health and operators). */
  leaseHolder(name: string): Promise<{ holder: string; token: number; expiresInMs: number } | undefined>
  /** Gives the lease up at once (a clean shutdown), so a standby need not wait for it to lapse. */
  releaseLease(lease: Lease): Promise<void>
  /**
   * From now on every recorded chain write (`putSubmission`) commits only
   * while `lease` is current with at least `marginMs` left: a deposed leader
   * cannot record, so cannot broadcast, a transaction.
   */
  fence(lease: Lease, marginMs: number): void
}
