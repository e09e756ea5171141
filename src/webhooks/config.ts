import { z } from 'zod'
import { httpUrl } from '../config/fields.js'
import { WEBHOOK_EVENTS } from './events.js'

const hookUrl = httpUrl('must be an http(s):// URL').describe(
  'where deliveries are POSTed; it may be on a private network. Credentials (user:pass@) and a query token are sent as given and redacted wherever the URL is shown',
)

export const webhookConfigSchema = z
  .strictObject({
    url: hookUrl,
    events: z
      .array(z.enum(WEBHOOK_EVENTS))
      .min(1, `must name at least one of ${WEBHOOK_EVENTS.join(', ')}`)
      .describe('the events delivered to this URL'),
    maxQueue: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(1_000)
      .describe(
        'deliveries held for this URL, retries included; past it new events are dropped and counted. Held in memory: a restart loses them',
      ),
    timeoutMs: z
      .number()
      .int()
      .min(100)
      .max(60_000)
      .default(5_000)
      .describe('deadline of one delivery attempt, connection to answer'),
  })
  .describe('an outbound webhook (docs/WEBHOOKS.md)')

export type WebhookConfig = z.infer<typeof webhookConfigSchema>

export const webhooksConfigSchema = z
  .array(webhookConfigSchema)
  .max(32)
  .refine((hooks) => new Set(hooks.map((h) => h.url)).size === hooks.length, {
    message: 'each URL may appear once; list all of its events in one entry',
  })
  .default([])
  .describe('outbound webhooks for Web2 systems: signed POSTs on order events (docs/WEBHOOKS.md)')
