/** What a webhook may subscribe to; docs/WEBHOOKS.md says when each fires. */
export const WEBHOOK_EVENTS = ['order.opened', 'slot.down', 'order.settled', 'payout.proved'] as const

export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number]

export interface WebhookEvent {
  type: WebhookEventType
  orderId: string
  /** The order's CAIP-2 chain id. */
  chain: string
  /**
   * Plain JSON, bigints already decimal strings (a stray bigint is written as
   * one). `slot.down` must carry `slot`, the slot's index: it is part of the id.
   */
  data: Record<string, unknown>
}

/**
 * The delivery's id and Idempotency-Key: the same for the same fact on every
 * relayer of the quorum and after a restart, so that a receiver fed by all of
 * them, or by retries, can keep the first and drop the rest. The chain is
 * part of it because an order id is only unique within its chain. Undefined
 * for an event that cannot be named (a slot.down without a slot).
 */
export function webhookEventId(event: WebhookEvent): string | undefined {
  const base = `${event.type}:${event.chain}:${event.orderId}`
  if (event.type !== 'slot.down') return base
  const slot = event.data.slot
  const valid =
    (typeof slot === 'number' && Number.isSafeInteger(slot) && slot >= 0) ||
    (typeof slot === 'string' && /^\d{1,15}$/.test(slot))
  return valid ? `${base}:${slot}` : undefined
}

export function isWebhookEventType(value: unknown): value is WebhookEventType {
  return (WEBHOOK_EVENTS as readonly unknown[]).includes(value)
}

/** The JSON body of every delivery. */
export interface WebhookPayload {
  /** The Idempotency-Key: see `webhookEventId`. */
  id: string
  type: WebhookEventType
  orderId: string
  chain: string
  /** The relayer that sent it (its config's relayer.id); its key is in the Qantara-Relayer header. */
  relayerId: string
  data: Record<string, unknown>
  /** When this relayer emitted the event, ISO 8601; the same on each retry, different on each relayer. */
  emittedAt: string
}
