import type { Ed25519Signer } from '../ed25519.js'
import type { Logger } from '../log.js'
import { HookChannel, type WebhookMetrics, type WebhookStatus } from './channel.js'
import type { WebhookConfig } from './config.js'
import { webhookEventId, type WebhookEvent, type WebhookEventType, type WebhookPayload } from './events.js'
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retryPolicy.js'

export type { WebhookDeliveryRecord, WebhookMetrics, WebhookStatus } from './channel.js'

export interface WebhookDispatcherOptions {
  hooks: readonly WebhookConfig[]
  /** The relayer identity key: receivers check deliveries against its public key. */
  signer: Ed25519Signer
  relayerId: string
  logger: Logger
  metrics?: WebhookMetrics
  /** Wall clock in ms, for emittedAt, Qantara-Timestamp and records; retries are timed by a monotonic clock. */
  now?: () => number
  /** Backoff and give-up bounds; tests shorten the delays. */
  retry?: Partial<RetryPolicy>
  /** Jitter source in [0, 1). */
  random?: () => number
}

/**
 * Outbound webhooks: events in through `emit`, signed POSTs out through `run`.
 * Each hook has its own bounded queue and loop, so a dead or slow receiver
 * delays nothing but its own deliveries, and emitting never waits on the
 * network. At least once while the relayer runs; the queues are in memory and
 * a restart loses what they held (docs/WEBHOOKS.md).
 */
export class WebhookDispatcher {
  private readonly channels: HookChannel[]
  private readonly byType = new Map<WebhookEventType, HookChannel[]>()
  private readonly relayerId: string
  private readonly log: Logger
  private readonly now: () => number

  constructor(o: WebhookDispatcherOptions) {
    this.relayerId = o.relayerId
    this.log = o.logger.child({ module: 'webhooks' })
    this.now = o.now ?? Date.now
    const deps = {
      signer: o.signer,
      logger: this.log,
      metrics: o.metrics,
      now: this.now,
      policy: { ...DEFAULT_RETRY_POLICY, ...o.retry },
      random: o.random ?? Math.random,
    }
    this.channels = o.hooks.map((hook) => new HookChannel(hook, deps))
    for (const channel of this.channels)
      for (const type of new Set(channel.config.events))
        this.byType.set(type, [...(this.byType.get(type) ?? []), channel])
  }

  /**
   * Queues the event for every hook subscribed to it. Never throws and never
   * waits: the caller is the relayer's pipeline. A full queue drops the event
   * for that hook (counted, logged); an event without an id (a slot.down
   * without its slot) is logged and dropped.
   */
  emit(event: WebhookEvent): void {
    try {
      const channels = this.byType.get(event.type)
      if (!channels) return
      const id = webhookEventId(event)
      if (id === undefined) {
        this.log.error({ type: event.type, orderId: event.orderId }, 'webhook event without an id not sent')
        return
      }
      const payload: WebhookPayload = {
        id,
        type: event.type,
        orderId: event.orderId,
        chain: event.chain,
        relayerId: this.relayerId,
        data: event.data,
        emittedAt: new Date(this.now()).toISOString(),
      }
      const body = Buffer.from(JSON.stringify(payload, bigintAsDecimal), 'utf8')
      const at = performance.now()
      for (const channel of channels)
        channel.offer({
          id,
          type: event.type,
          orderId: event.orderId,
          body,
          emittedMono: at,
          dueMono: at,
          attempts: 0,
        })
    } catch (err) {
      this.log.error({ err, type: event?.type, orderId: event?.orderId }, 'webhook event not sent')
    }
  }

  /** Delivers until `signal` aborts, then returns; what is still queued stays for a later run. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all(this.channels.map((c) => c.run(signal)))
  }

  /** Per hook, in config order: for the dashboard and GET /v1/webhooks. */
  status(): WebhookStatus[] {
    return this.channels.map((c) => c.status())
  }
}

function bigintAsDecimal(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value
}
