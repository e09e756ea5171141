import { randomInt } from 'node:crypto'
import { abortableDelay } from '../abort.js'
import type { Logger } from '../log.js'
import type { ProbeJob, ProbeJobs } from '../store/jobs.js'
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
  private readonly running = new Set<Promise<void>>()
  private readonly now: () => number

  constructor(private readonly o: ProbeWorkerOptions) {
    this.now = o.now ?? Date.now
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const room = this.o.concurrency - this.inFlight
      // Claims in batches of at least half the concurrency (a claim is a round trip and a locking UPDATE), as soon as
      // enough probes have ended, not a poll interval later.
      if (room < Math.ceil(this.o.concurrency / 2)) {
        await Promise.race(this.running)
        continue
      }
      const claimed = await this.o.jobs.claimProbes(this.now(), room, this.o.holdMs).catch((err: unknown) => {
        this.o.logger.warn({ err }, 'claiming probe jobs failed; trying again')
        return []
      })
      for (const job of claimed) this.start(job, signal)
      // Fewer than asked for: nothing more is due yet. A full batch may mean more: claim again at once.
      if (claimed.length < room) await abortableDelay(this.o.pollMs ?? 200, signal).catch(() => undefined)
    }
    while (this.running.size > 0) await Promise.all([...this.running])
  }

  private start(job: ProbeJob, signal: AbortSignal): void {
    this.inFlight++
    const running = this.work(job, signal).finally(() => {
      this.inFlight--
      this.running.delete(running)
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
      await this.o.jobs.finishProbe(job, retry ? this.now() + randomInt(0, Math.max(1, room)) : undefined)
    } catch (err) {
      // The claim lapses after holdMs and the job is claimed again: nothing is lost but time.
      this.o.logger.warn({ orderId: id, slot: job.slot, err }, 'probe job failed')
    }
  }
}
