import type { OrderTerms } from '../order.js'
import type { ProbeJob, ProbeJobs } from '../store/jobs.js'
import type { ProbeScheduler } from './options.js'
import { probeInstant } from './probeSlot.js'

/**
 * The leader's side of probing when the relayer identity runs as several
 * processes: each active order's slot becomes one job in the shared store,
 * at an instant drawn inside the slot as the in-process prober draws it,
 * for whichever worker claims it (ProbeWorker).
 */
export class QueuedProbes implements ProbeScheduler {
  /** `orderId:slot` → slot end: enqueued already (the store's key makes a repeat a no-op anyway). */
  private readonly enqueued = new Map<string, number>()
  /** Gathered during a tick, written by `flush` at its end in one statement. */
  private pending = new Map<string, ProbeJob>()

  constructor(
    private readonly jobs: Pick<ProbeJobs, 'enqueueProbes'>,
    private readonly now: () => number = Date.now,
  ) {}

  schedule(order: OrderTerms): number | undefined {
    const now = this.now()
    const due = probeInstant(order, now)
    if (!due) return undefined
    const key = `${order.id}:${due.slot}`
    if (this.enqueued.has(key) || this.pending.has(key)) return due.slot
    this.pending.set(key, { terms: order, slot: due.slot, runAt: due.at, slotEnd: due.slotEnd, attempt: 1 })
    return due.slot
  }

  /** Writes the tick's jobs; a throw (the store is down) keeps them out of `enqueued`, so the orders' next look retries. */
  async flush(): Promise<void> {
    const batch = this.pending
    this.pending = new Map()
    await this.jobs.enqueueProbes([...batch.values()])
    for (const [key, job] of batch) this.enqueued.set(key, job.slotEnd)
  }

  prune(): void {
    const now = this.now()
    for (const [k, end] of this.enqueued) if (end < now) this.enqueued.delete(k)
  }

  drain(): Promise<void> {
    return Promise.resolve()
  }
}
