import type { OrderTerms } from '../order.js'
import type { ProbeJobs } from '../store/jobs.js'
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

  constructor(
    private readonly jobs: Pick<ProbeJobs, 'enqueueProbe'>,
    private readonly now: () => number = Date.now,
  ) {}

  async schedule(order: OrderTerms): Promise<number | undefined> {
    const now = this.now()
    const due = probeInstant(order, now)
    if (!due) return undefined
    const key = `${order.id}:${due.slot}`
    if (this.enqueued.has(key)) return due.slot
    // A throw (the store is down) leaves the key out, so the order's next look enqueues it.
    await this.jobs.enqueueProbe({
      terms: order,
      slot: due.slot,
      runAt: due.at,
      slotEnd: due.slotEnd,
      attempt: 1,
    })
    this.enqueued.set(key, due.slotEnd)
    return due.slot
  }

  prune(): void {
    const now = this.now()
    for (const [k, end] of this.enqueued) if (end < now) this.enqueued.delete(k)
  }

  drain(): Promise<void> {
    return Promise.resolve()
  }
}
