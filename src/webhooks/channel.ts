import type { Logger } from '../log.js'
import type { Ed25519Signer } from '../ed25519.js'
import type { Metrics } from '../metrics.js'
import { errorMessage, isQantaraError } from '../errors.js'
import { redactUrl, redactUrls } from '../http/redactUrl.js'
import type { WebhookConfig } from './config.js'
import type { WebhookEventType } from './events.js'
import { createHookAgent, destroyHookAgent, postWebhook } from './post.js'
import { Fifo, MinHeap } from './queues.js'
import { nextStep, type AttemptResult, type NextStep, type RetryPolicy } from './retryPolicy.js'

export type WebhookMetrics = Pick<Metrics, 'webhookDeliveries' | 'webhookAttempts' | 'webhookQueue'>

/** One event on its way to one hook. */
export interface Delivery {
  id: string
  type: WebhookEventType
  orderId: string
  /** The payload's bytes, shared by every hook the event goes to. */
  body: Buffer
  /** performance.now() at emission, and of the next attempt: scheduling never reads the wall clock. */
  emittedMono: number
  dueMono: number
  attempts: number
}

export interface WebhookDeliveryRecord {
  id: string
  type: WebhookEventType
  orderId: string
  /** When the attempt ended, ISO 8601. */
  at: string
  /** `retrying` for an attempt that failed and will be made again. */
  outcome: 'delivered' | 'failed' | 'retrying'
  /** Attempts made so far, this one included. */
  attempts: number
  httpStatus?: number
  error?: string
}

export interface WebhookStatus {
  /** Credentials, query and key-like segments redacted. */
  url: string
  events: WebhookEventType[]
  /** Held: waiting for a first attempt or a retry, or in flight. */
  queued: number
  delivered: number
  failed: number
  /** Dropped because the queue was full. */
  dropped: number
  /** The latest attempt's record (`recent[0]`). */
  last?: WebhookDeliveryRecord
  /** The latest attempts, newest first. */
  recent: WebhookDeliveryRecord[]
}

export interface ChannelDeps {
  signer: Ed25519Signer
  logger: Logger
  metrics: WebhookMetrics | undefined
  now: () => number
  policy: RetryPolicy
  random: () => number
}

const RECENT = 20

/**
 * One hook's queue and delivery loop. One attempt in flight at a time, so a
 * receiver that hangs costs its own queue timeoutMs per attempt and nobody
 * else anything. New events go out in emission order; a failed one waits for
 * its retry out of line, so one event the receiver keeps failing on does not
 * hold back the others.
 */
export class HookChannel {
  readonly label: string
  private readonly url: URL
  private readonly log: Logger
  private readonly agent = createHookAgent()
  private readonly fresh = new Fifo<Delivery>()
  private readonly retries = new MinHeap<Delivery>((d) => d.dueMono)
  private inFlight = 0
  private delivered = 0
  private failed = 0
  private dropped = 0
  private readonly recent: WebhookDeliveryRecord[] = []
  private wake: (() => void) | undefined
  private running = false
  /** Whether the latest attempt failed, and whether drops are under way: logged once each, when they start. */
  private failing = false
  private dropping = false

  constructor(
    readonly config: WebhookConfig,
    private readonly deps: ChannelDeps,
  ) {
    this.url = new URL(config.url)
    this.label = redactUrl(config.url)
    this.log = deps.logger.child({ hook: this.label })
    deps.metrics?.webhookQueue.set({ hook: this.label }, 0)
  }

  get size(): number {
    return this.fresh.length + this.retries.size + this.inFlight
  }

  /** Queues a delivery, or drops it when the queue is full. O(1), never throws. */
  offer(d: Delivery): void {
    if (this.size >= this.config.maxQueue) {
      this.dropped++
      this.deps.metrics?.webhookDeliveries.inc({ hook: this.label, outcome: 'dropped' })
      if (!this.dropping)
        this.log.warn(
          { id: d.id, maxQueue: this.config.maxQueue },
          'webhook queue full: dropping new events until it drains',
        )
      this.dropping = true
      return
    }
    this.dropping = false
    this.fresh.push(d)
    this.queueChanged()
    this.wake?.()
  }

  async run(signal: AbortSignal): Promise<void> {
    if (this.running) throw new Error(`webhook ${this.label} is already being delivered`)
    this.running = true
    try {
      while (!signal.aborted) {
        const d = this.next()
        if (d) await this.attempt(d, signal)
        else await this.idle(signal)
      }
    } catch (err) {
      if (!signal.aborted) throw err
    } finally {
      this.running = false
      destroyHookAgent(this.agent)
    }
  }

  status(): WebhookStatus {
    return {
      url: this.label,
      events: [...this.config.events],
      queued: this.size,
      delivered: this.delivered,
      failed: this.failed,
      dropped: this.dropped,
      ...(this.recent[0] ? { last: { ...this.recent[0] } } : {}),
      recent: this.recent.map((r) => ({ ...r })),
    }
  }

  /** A retry that is due goes first: it is older than anything fresh. */
  private next(): Delivery | undefined {
    const due = this.retries.peek()
    if (due && due.dueMono <= performance.now()) return this.retries.pop()
    return this.fresh.shift()
  }

  /** Until an event is offered, the next retry is due, or the signal aborts. */
  private idle(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const due = this.retries.peek()
      const timer = due ? setTimeout(() => done(), Math.max(0, due.dueMono - performance.now())) : undefined
      const done = () => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        this.wake = undefined
        resolve()
      }
      this.wake = done
      signal.addEventListener('abort', done, { once: true })
    })
  }

  private async attempt(d: Delivery, signal: AbortSignal): Promise<void> {
    this.inFlight = 1
    d.attempts++
    let sent: { result: AttemptResult; label: string }
    try {
      sent = await this.send(d, signal)
    } catch (err) {
      // Stopped, not failed: kept for the next run as it was.
      d.attempts--
      this.retries.push(d)
      throw err
    } finally {
      this.inFlight = 0
    }
    this.deps.metrics?.webhookAttempts.inc({ hook: this.label, result: sent.label })
    const step = nextStep({
      result: sent.result,
      attempts: d.attempts,
      ageMs: performance.now() - d.emittedMono,
      policy: this.deps.policy,
      random: this.deps.random,
    })
    this.settle(d, sent.result, step)
  }

  /** One signed POST; throws only when `signal` aborts it. */
  private async send(d: Delivery, signal: AbortSignal): Promise<{ result: AttemptResult; label: string }> {
    // Signed at each attempt with its own timestamp, so a retry minutes later is still fresh to the receiver.
    const timestamp = Math.floor(this.deps.now() / 1_000)
    const signed = Buffer.concat([Buffer.from(`${timestamp}.`, 'utf8'), d.body])
    try {
      const answer = await postWebhook({
        url: this.url,
        body: d.body,
        headers: {
          'Content-Type': 'application/json',
          'Idempotency-Key': d.id,
          'Qantara-Relayer': this.deps.signer.publicKey.replace(/^0x/, ''),
          'Qantara-Timestamp': String(timestamp),
          'Qantara-Signature': this.deps.signer.sign(signed).replace(/^0x/, ''),
          'User-Agent': 'qantara-relayer',
        },
        timeoutMs: this.config.timeoutMs,
        agent: this.agent,
        signal,
      })
      return { result: answer, label: `${Math.floor(answer.status / 100)}xx` }
    } catch (err) {
      if (signal.aborted) throw err
      return {
        result: { error: redactUrls(errorMessage(err)) },
        label: isQantaraError(err, 'ENDPOINT_TIMEOUT') ? 'timeout' : 'unreachable',
      }
    }
  }

  private settle(d: Delivery, result: AttemptResult, step: NextStep): void {
    const outcome = step.kind === 'retry' ? 'retrying' : step.kind
    this.record({
      id: d.id,
      type: d.type,
      orderId: d.orderId,
      at: new Date(this.deps.now()).toISOString(),
      outcome,
      attempts: d.attempts,
      ...('status' in result ? { httpStatus: result.status } : { error: result.error }),
    })
    const fields = { id: d.id, attempts: d.attempts, ...result }
    if (step.kind === 'delivered') {
      this.delivered++
      if (this.failing) this.log.info(fields, 'webhook receiver answering again')
      this.failing = false
      this.log.debug(fields, 'webhook delivered')
    } else {
      if (!this.failing) this.log.warn(fields, 'webhook receiver failing')
      this.failing = true
      if (step.kind === 'retry') {
        d.dueMono = performance.now() + step.delayMs
        this.retries.push(d)
        this.log.debug({ ...fields, delayMs: step.delayMs }, 'webhook delivery to be retried')
      } else {
        this.failed++
        this.log.warn({ ...fields, reason: step.reason }, 'webhook delivery failed for good')
      }
    }
    if (step.kind !== 'retry')
      this.deps.metrics?.webhookDeliveries.inc({ hook: this.label, outcome: step.kind })
    this.queueChanged()
  }

  private record(r: WebhookDeliveryRecord): void {
    this.recent.unshift(r)
    if (this.recent.length > RECENT) this.recent.pop()
  }

  private queueChanged(): void {
    this.deps.metrics?.webhookQueue.set({ hook: this.label }, this.size)
  }
}
