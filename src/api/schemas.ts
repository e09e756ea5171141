import { z } from 'zod'
import { ORDER_STATES } from '../orders/record.js'
import { signedProviderRecordSchema } from '../registry/record.js'

/**
 * What the HTTP API reads and answers, as zod schemas: the routes parse their
 * queries with them, and /v1/openapi.json is generated from them, so the
 * document cannot drift from what is served.
 */

const hex32 = z.string().regex(/^0x[0-9a-f]{64}$/)
const chainId = z.string().regex(/^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$/)
/** Amounts and other integers beyond 2^53, as the API writes every bigint. */
const decimal = z.string().regex(/^\d{1,78}$/)
const uint = z.number().int().nonnegative()

export const errorBody = z.object({
  error: z.string().describe('a stable error code (docs/API.md lists them)'),
  detail: z.string().optional().describe('what was wrong, for a person'),
})

const limit = z
  .string()
  .regex(/^\d{1,4}$/)
  .transform(Number)
  .pipe(z.number().int().min(1).max(1_000))
  .default(100)
  .describe('page size, 1-1000')

export const ordersQuery = z.strictObject({
  limit,
  cursor: hex32.optional().describe("the previous page's `next`"),
  chain: chainId.optional(),
  renter: z.string().min(1).max(128).optional().describe('0x-hex matches in any case'),
  provider: hex32.optional().describe("the provider's ed25519 key"),
  state: z.enum(ORDER_STATES).optional(),
})

export const providersQuery = z.strictObject({
  limit,
  cursor: hex32.optional().describe("the previous page's `next`"),
  gpu: z.string().min(1).max(64).optional().describe('a GPU name part or class id'),
  minVramMiB: z
    .string()
    .regex(/^\d{1,10}$/)
    .transform(Number)
    .optional(),
  chain: chainId.optional(),
  token: z.string().min(1).max(128).optional(),
  maxPricePerSlot: decimal.transform(BigInt).optional(),
})

export const slotsQuery = z.strictObject({
  from: z
    .string()
    .regex(/^\d{1,6}$/)
    .transform(Number)
    .default(0)
    .describe('first slot'),
  count: z
    .string()
    .regex(/^\d{1,4}$/)
    .transform(Number)
    // Each slot carries up to 16 GPUs' telemetry: a page stays around a few hundred kilobytes.
    .pipe(z.number().int().min(1).max(200))
    .default(200)
    .describe('slots from `from`, 1-200'),
})

const gpuRequirement = z.object({ class: z.string(), count: uint, minVramMiB: uint })

const btcTerms = z.object({
  script: z.string(),
  solver: z.string(),
  satsPerE18: decimal,
  payoutDeadline: decimal,
  maxAmount: decimal,
  openBy: decimal,
  latestEnd: decimal,
})

const termsSchema = z.object({
  id: hex32,
  chain: chainId,
  renter: z.string(),
  token: z.string().describe('a token address, or `native`'),
  amount: decimal,
  providerId: hex32,
  payout: z.string(),
  start: decimal.describe('Unix seconds of the first slot'),
  slotLength: uint,
  slots: uint,
  gpu: gpuRequirement,
  btc: btcTerms.optional(),
})

const settlementSchema = z.object({
  orderId: hex32,
  toProvider: decimal,
  toRenter: decimal,
  fee: decimal,
  feeRecipient: z.string(),
  upSlots: uint,
  totalSlots: uint,
  heartbeatRoot: hex32,
})

export const orderSchema = z.object({
  terms: termsSchema,
  state: z.enum(ORDER_STATES),
  settlement: settlementSchema.optional(),
  reason: z.enum(['FULL', 'PARTIAL_DOWNTIME', 'NO_SHOW']).optional(),
  uptime: z.string().optional().describe('one character per slot (docs/PROTOCOL.md, slot statuses)'),
  txHash: z.string().optional(),
  btcTxid: z.string().optional(),
  btcBlock: z.string().optional(),
  btcSats: decimal.optional(),
  compactedAt: uint.optional().describe("when retention dropped its heartbeats' bodies (telemetry), ms"),
  updatedAt: uint,
})

export const PROOFS = ['compute-verified', 'telemetry-matched', 'heartbeat-only', 'down', 'pending'] as const

const telemetry = z.object({
  index: uint,
  name: z.string(),
  utilizationPct: uint.nullable(),
  memoryUsedMiB: uint.nullable(),
  memoryTotalMiB: uint.nullable(),
  temperatureC: uint.nullable(),
  powerDrawMilliwatts: uint.nullable(),
})

export const slotSchema = z.object({
  slot: uint,
  status: z.string().length(1),
  up: z.boolean(),
  proof: z
    .enum(PROOFS)
    .describe('what was proved of the slot: a down slot with a heartbeat is heartbeat-only'),
  reason: z.string().describe('COMPUTE_VERIFIED, TELEMETRY_MATCHED, or why the slot is down'),
  heartbeats: uint.describe("relayers' records of the slot held here"),
  gpus: z.array(telemetry).nullable().describe('the telemetry of one record of the slot; null if none held'),
})

export const orderDetailSchema = orderSchema.extend({
  end: decimal.describe('Unix seconds the last slot ends'),
  heartbeats: uint,
  slotCounts: z.record(z.string(), uint).optional().describe('slots by reason'),
  slots: z.object({ from: uint, count: uint, items: z.array(slotSchema) }).optional(),
  telemetryCompacted: z
    .boolean()
    .describe("the order finished long enough ago that its heartbeats' bodies (telemetry) were dropped"),
})

export const ordersPage = z.object({ orders: z.array(orderSchema), next: hex32.nullable() })

export const providersPage = z.object({
  providers: z.array(signedProviderRecordSchema),
  next: hex32.nullable(),
})

export const providerDetail = z.object({
  provider: signedProviderRecordSchema,
  orders: uint.describe('orders of this provider looked at (the first 1000 by id)'),
  byState: z.record(z.string(), uint),
  uptime: z
    .object({ upSlots: uint, totalSlots: uint })
    .describe('over its settled orders among those looked at'),
  earnings: z
    .array(z.object({ chain: chainId, token: z.string(), toProvider: decimal, orders: uint }))
    .describe('paid to the provider by settled orders, per chain and token'),
})

export const receiptSchema = z.object({
  orderId: hex32,
  chain: chainId,
  state: z.enum(ORDER_STATES),
  settlement: settlementSchema,
  settlementHash: z.string().describe('sha256 of the canonical settlement the signatures are over'),
  threshold: uint,
  statement: z
    .discriminatedUnion('scheme', [
      z.object({ scheme: z.literal('eip712'), typedData: z.record(z.string(), z.unknown()) }),
      z.object({ scheme: z.literal('ed25519'), message: z.string() }),
      z.object({
        scheme: z.literal('secp256k1-sha256'),
        message: z.string(),
        publicKeys: z.record(z.string(), z.string()),
      }),
    ])
    .optional()
    .describe('what each signature is over and how to check it (docs/API.md)'),
  signatures: z.array(
    z.object({ relayerId: z.string(), signer: z.string(), signature: z.string(), receivedAt: uint }),
  ),
  txHash: z.string().optional(),
})

const chainStatus = z.object({
  ready: z.boolean(),
  head: decimal.optional(),
  lag: decimal.optional(),
  checkpoint: decimal.optional(),
  stopped: z.string().optional(),
  pendingSubmissions: uint.optional(),
  fundedSettlements: uint.optional().describe("what the signing key (or vault's fee reserve) can pay for"),
  explorer: z.string().optional().describe('transaction link with {tx}'),
})

export const relayerStatusSchema = z.object({
  relayerId: z.string(),
  identity: hex32,
  version: z.string(),
  ready: z.boolean(),
  running: z.boolean(),
  store: z.boolean(),
  threshold: uint,
  chains: z.record(z.string(), chainStatus),
  peers: z.array(
    z.object({
      id: z.string(),
      url: z.string().optional(),
      reachable: z.boolean().nullable().describe('null: not asked yet or no URL'),
      error: z.string().optional(),
      checkedAt: uint.optional(),
    }),
  ),
  orders: z.record(z.string(), uint).describe('orders by state'),
  webhooks: z.array(
    z.object({
      receiver: z.string().describe("the receiver's origin; its path is not shown"),
      events: z.array(z.string()),
      queued: uint,
      delivered: uint,
      failed: uint,
      dropped: uint,
      last: z
        .object({
          type: z.string(),
          at: z.string(),
          outcome: z.enum(['delivered', 'failed', 'retrying']),
          attempts: uint,
          httpStatus: uint.optional(),
          error: z.string().optional(),
        })
        .optional(),
    }),
  ),
})

export const healthSchema = z.object({
  ready: z.boolean(),
  running: z.boolean(),
  chains: z.record(z.string(), chainStatus),
  store: z.boolean(),
})

export type OrdersQuery = z.infer<typeof ordersQuery>
export type ProvidersQuery = z.infer<typeof providersQuery>
export type RelayerStatus = z.infer<typeof relayerStatusSchema>
export type Slot = z.infer<typeof slotSchema>

/** The schemas the OpenAPI document names as components, by name. */
export const NAMED_SCHEMAS: Record<string, z.ZodType> = {
  Error: errorBody,
  Order: orderSchema,
  OrderDetail: orderDetailSchema,
  OrdersPage: ordersPage,
  Slot: slotSchema,
  SignedProviderRecord: signedProviderRecordSchema,
  ProvidersPage: providersPage,
  ProviderDetail: providerDetail,
  Receipt: receiptSchema,
  RelayerStatus: relayerStatusSchema,
  Health: healthSchema,
}
