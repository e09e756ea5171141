import { randomInt } from 'node:crypto'
import { abortableDelay } from '../abort.js'
import type { Logger } from '../log.js'
import { GroupCommit } from '../store/groupCommit.js'
import type { FinishedProbe, ProbeJob, ProbeJobs } from '../store/jobs.js'
import { MAX_ATTEMPTS, isFinal } from './probeSlot.js'
import type { ProbeResult } from './prober.js'

export interface ProbeWorkerOptions {
  jobs: ProbeJobs
  /** Runs one slot's probe, its compute check included, and keeps what it proves (Prober.probeOnce). */
  probe: (job: ProbeJob, signal: AbortSignal) => Promise<ProbeResult>
  /** Probes in flight at once in this process. */
  concurrency: number
  /** How long a claim is held: a worker that dies mid-probe releases its jobs after this. */
  holdMs: number
  /** The most one probe may take, its compute check included: a job is started only with that much of its claim left. */
  maxProbeMs: number
  /** How long a probe's answer may take: a retry needs that much of its slot left. */
  answerTimeoutMs: number
  pollMs?: number
  logger: Logger
  now?: () => number
}

/**
 * A stateless worker of a relayer identity run as several processes: it
 * claims due probe jobs from the shared store (SKIP LOCKED, so workers never
 * take the same one), runs each, and marks it done, or due again at another
 * random instant of its slot when it failed in a way another try may mend.
 */
export class ProbeWorker {
  private inFlight = 0
  /** Claimed, waiting for a free slot, with when. */
  private readonly ready: { job: ProbeJob; claimedAt: number }[] = []
  private readonly running = new Set<Promise<void>>()
  private readonly now: () => number
  /** Jobs that end together are finished in one statement. */
  private readonly finish: GroupCommit<FinishedProbe, undefined>

  constructor(private readonly o: ProbeWorkerOptions) {
    this.now = o.now ?? Date.now
    this.finish = new GroupCommit(async (finished) => {
      await o.jobs.finishProbes(finished)
      return finished.map(() => undefined)
    })
  }

  async run(signal: AbortSignal): Promise<void> {
    const batch = Math.ceil(this.o.concurrency / 2)
    while (!signal.aborted) {
      // Claimed ahead by half the concurrency, so a probe that ends starts the next at once, not a claim's round trip
      // later; claims go in batches of at least that half (a claim is a round trip and a locking UPDATE).
      const room = this.o.concurrency + batch - this.inFlight - this.ready.length
      if (room < batch) {
        await Promise.race(this.running)
        continue
      }
      const claimed = await this.o.jobs.claimProbes(this.now(), room, this.o.holdMs).catch((err: unknown) => {
        this.o.logger.warn({ err }, 'claiming probe jobs failed; trying again')
        return []
      })
      const claimedAt = this.now()
      this.ready.push(...claimed.map((job) => ({ job, claimedAt })))
      this.fill(signal)
      // Fewer than asked for: nothing more is due yet. A full batch may mean more: claim again at once.
      if (claimed.length < room) await abortableDelay(this.o.pollMs ?? 200, signal).catch(() => undefined)
    }
    // Claimed but not begun: their claims lapse and other workers take them, as for probes cut off mid-way.
    this.ready.length = 0
    while (this.running.size > 0) await Promise.all([...this.running])
  }

  /**
   * Starts waiting jobs while there is room. One that waited so long (the
   * probes ahead of it are slow: an agent that answers at the deadline) that
   * less of its claim is left than a probe may take is left for its claim to
   * lapse and another worker to take, rather than started and taken twice.
   */
  private fill(signal: AbortSignal): void {
    while (this.inFlight < this.o.concurrency && this.ready.length > 0 && !signal.aborted) {
      const { job, claimedAt } = this.ready.shift()!
      const now = this.now()
      if (now - claimedAt > this.o.holdMs - this.o.maxProbeMs || now >= job.slotEnd) continue
      this.start(job, signal)
    }
  }

  private start(job: ProbeJob, signal: AbortSignal): void {
    this.inFlight++
    const running = this.work(job, signal).finally(() => {
      this.inFlight--
      this.running.delete(running)
      this.fill(signal)
    })
    this.running.add(running)
  }

  private async work(job: ProbeJob, signal: AbortSignal): Promise<void> {
    const { id } = job.terms
    try {
      const result = await this.o.probe(job, signal)
      // Aborted mid-probe: the claim lapses and another worker takes the slot.
      if (signal.aborted) return
      const room = job.slotEnd - this.now() - this.o.answerTimeoutMs
      const retry = !isFinal(result) && job.attempt < MAX_ATTEMPTS && room > 0
      await this.finish.submit(
        retry ? { job, retryAt: this.now() + randomInt(0, Math.max(1, room)) } : { job },
      )
    } catch (err) {
      // The claim lapses after holdMs and the job is claimed again: nothing is lost but time.
      this.o.logger.warn({ orderId: id, slot: job.slot, err }, 'probe job failed')
    }
  }
}
