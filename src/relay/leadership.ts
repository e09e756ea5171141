import { abortableDelay } from '../abort.js'
import type { Logger } from '../log.js'
import type { LeaderLeases, Lease } from '../store/jobs.js'

export interface LeadershipOptions {
  leases: LeaderLeases
  /** One lease per relayer identity: `leader:<relayer id>`. */
  name: string
  /** This process, unique among the identity's processes. */
  holder: string
  ttlMs: number
  logger: Logger
  now?: () => number
}

/**
 * Which process of a relayer identity is its leader: the one holding the
 * lease, renewed every third of its time to live. A leader stops itself
 * (its signal aborts) once it cannot be sure it still holds the lease: a
 * renewal refused, or none confirmed for ttl − ttl/4 of its own clock,
 * measured from when the last confirmed renewal was sent. The store fences
 * its chain writes by the lease too, so a leader paused past that (a GC
 * pause, a frozen VM) records nothing once a standby holds the lease.
 */
export class Leadership {
  private readonly now: () => number

  constructor(private readonly o: LeadershipOptions) {
    // A monotonic clock: a wall clock stepped back by NTP would stretch how long the lease is trusted.
    this.now = o.now ?? (() => performance.now())
  }

  /** What the store's fence demands be left of the lease at each chain write. */
  get fenceMarginMs(): number {
    return Math.floor(this.o.ttlMs / 4)
  }

  /** Waits until this process holds the lease (checked every quarter of its ttl); undefined once `signal` aborts. */
  async acquire(signal: AbortSignal): Promise<Lease | undefined> {
    let waiting = false
    while (!signal.aborted) {
      const lease = await this.o.leases
        .acquireLease(this.o.name, this.o.holder, this.o.ttlMs)
        .catch((err: unknown) => {
          this.o.logger.warn({ err }, 'asking for the leader lease failed')
          return undefined
        })
      if (lease) {
        this.o.logger.info({ lease: lease.name, token: lease.token }, 'leader lease acquired: leading')
        return lease
      }
      if (!waiting) this.o.logger.info({ lease: this.o.name }, 'another process leads; standing by')
      waiting = true
      await abortableDelay(Math.floor(this.o.ttlMs / 4), signal).catch(() => undefined)
    }
    return undefined
  }

  /**
   * Renews `lease` until `release` (which gives it up, so a standby takes over
   * at once; call it once the leader's loops have stopped) or until it is
   * lost: `lost` aborts when this process must stop leading.
   */
  hold(lease: Lease): { lost: AbortSignal; release: () => Promise<void> } {
    const lost = new AbortController()
    const stop = new AbortController()
    const ttl = this.o.ttlMs
    let sureUntil = this.now() + ttl - this.fenceMarginMs
    const lapse = (why: string) => {
      if (lost.signal.aborted || stop.signal.aborted) return
      this.o.logger.error({ lease: lease.name, token: lease.token, why }, 'leader lease lost: stopping')
      lost.abort(new Error(why))
    }
    // A renewal that hangs must not keep us leading: the clock alone ends it.
    const watchdog = setInterval(() => this.now() > sureUntil && lapse('no renewal confirmed in time'), 50)
    const both = AbortSignal.any([stop.signal, lost.signal])
    const renewing = (async () => {
      while (!both.aborted) {
        await abortableDelay(Math.floor(ttl / 3), both).catch(() => undefined)
        if (both.aborted) return
        const sentAt = this.now()
        const renewed = await this.o.leases.renewLease(lease, ttl).catch(() => undefined)
        if (renewed === true) sureUntil = Math.max(sureUntil, sentAt + ttl - this.fenceMarginMs)
        else if (renewed === false) lapse('renewal refused: the lease lapsed or another process holds it')
      }
    })()
    const release = async () => {
      stop.abort()
      clearInterval(watchdog)
      // A renewal that hangs (the frozen connection that cost us the lease) is not waited for.
      await Promise.race([renewing, new Promise((r) => setTimeout(r, Math.floor(ttl / 3)))])
      if (!lost.signal.aborted) await this.o.leases.releaseLease(lease).catch(() => undefined)
    }
    return { lost: lost.signal, release }
  }
}
