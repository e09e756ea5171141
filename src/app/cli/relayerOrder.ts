import { reasonOf } from '../../computeSettlement.js'
import { z } from 'zod'
import { SLOT_REASONS } from '../../computeSettlement.js'
import { QantaraError } from '../../errors.js'
import { ORDER_STATES } from '../../orders/record.js'
import { relayerBadAnswer, relayerGet, relayerRefused } from './relayerApi.js'

const units = z
  .string()
  .regex(/^[0-9]{1,78}$/, 'must be a decimal integer')
  .transform((v) => BigInt(v))
const hex32 = z.string().regex(/^0x[0-9a-f]{64}$/, 'must be 32 bytes of lower-case 0x hex')
const word = (max: number) =>
  z
    .string()
    .regex(/^[0-9A-Za-z:_./-]+$/, 'must be a plain word')
    .max(max)
const count = z.number().int().nonnegative()
const slotStatuses = new Set(Object.keys(SLOT_REASONS))
/** A GPU's telemetry in one slot as the relayer serves it; the name is the provider's text, shown printable. */
const gpuTelemetry = z.object({
  index: count.max(255),
  name: z.string().max(128),
  utilizationPct: count.max(100).nullable(),
  memoryUsedMiB: count.nullable(),
  memoryTotalMiB: count.nullable(),
  temperatureC: count.max(200).nullable(),
  powerDrawMilliwatts: count.nullable(),
})
const slotDetail = z.object({
  slot: count,
  proof: word(32),
  reason: word(40),
  heartbeats: count,
  gpus: z.array(gpuTelemetry).max(16).nullable(),
})

/**
 * What `GET /v1/orders/:id` serves (src/api/server.ts), as far as the CLI
 * shows it. The relayer is someone else's server: every field it shows is
 * bounded and typed, and fields it adds later are dropped, not shown.
 */
const orderAnswerSchema = z.object({
  terms: z.object({
    id: hex32,
    chain: word(64),
    renter: word(128),
    token: word(128),
    amount: units,
    providerId: hex32,
    payout: word(128),
    start: units,
    slotLength: z.number().int().positive().max(86_400),
    slots: z.number().int().positive().max(100_000),
    gpu: z.object({ class: word(40), count: count.max(255), minVramMiB: count }),
    btc: z
      .object({
        script: z.string().regex(/^([0-9a-f]{2}){1,80}$/),
        solver: word(128),
        satsPerE18: units,
        payoutDeadline: units,
        maxAmount: units,
        openBy: units,
        latestEnd: units,
      })
      .optional(),
  }),
  state: z.enum(ORDER_STATES),
  settlement: z
    .object({
      toProvider: units,
      toRenter: units,
      fee: units,
      feeRecipient: z.union([z.literal(''), word(128)]),
      upSlots: count,
      totalSlots: count,
      heartbeatRoot: hex32,
    })
    .optional(),
  reason: z.enum(['FULL', 'PARTIAL_DOWNTIME', 'NO_SHOW']).optional(),
  uptime: z
    .string()
    .max(100_000)
    .refine((u) => [...u].every((c) => slotStatuses.has(c)), 'must be slot statuses')
    .optional(),
  txHash: word(128).optional(),
  btcTxid: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  btcBlock: word(80).optional(),
  btcSats: units.optional(),
  end: units,
  heartbeats: count.optional(),
  // A page of per-slot detail (the relayer's first 200 slots by default): proof, reason and GPU telemetry.
  slots: z.object({ from: count, count: count.max(2_000), items: z.array(slotDetail).max(2_000) }).optional(),
})
export type RelayerOrderAnswer = z.infer<typeof orderAnswerSchema>

/** One relayer's view of one order: `order` is undefined where the relayer does not know it (yet). */
export interface RelayerOrder {
  /** The relayer that answered, as output names it. */
  relayer: string
  order: RelayerOrderAnswer | undefined
}

/**
 * `GET /v1/orders/:id` from a relayer, checked: the answer must be for the
 * order asked, its split must add up to the order's amount over its slots, and
 * its per-slot statuses must fit in them. A relayer that answers otherwise is
 * not shown, since what it says cannot be the order.
 */
export async function relayerOrder(
  relayer: string,
  orderId: string,
  signal?: AbortSignal,
): Promise<RelayerOrder> {
  const id = orderId.toLowerCase()
  const path = `/v1/orders/${id}`
  const answer = await relayerGet(relayer, path, signal)
  if (answer.status === 404) return { relayer: answer.relayer, order: undefined }
  if (answer.status !== 200) throw relayerRefused(answer, path)
  const parsed = orderAnswerSchema.safeParse(answer.body)
  if (!parsed.success) throw relayerBadAnswer(answer.relayer, path, parsed.error)
  const problem = answerProblem(parsed.data, id)
  if (problem)
    throw new QantaraError('RPC_BAD_RESPONSE', `relayer ${answer.relayer} answered ${path} with ${problem}`)
  return { relayer: answer.relayer, order: parsed.data }
}

/** What in a well-formed answer cannot be true of the order asked for. */
export function answerProblem(a: RelayerOrderAnswer, id: string): string | undefined {
  if (a.terms.id !== id) return `order ${a.terms.id}, not the one asked for`
  if ((a.uptime?.length ?? 0) > a.terms.slots)
    return `${a.uptime!.length} slot statuses for an order of ${a.terms.slots} slots`
  const s = a.settlement
  if (!s) return undefined
  if (s.toProvider + s.toRenter + s.fee !== a.terms.amount)
    return `a settlement that pays ${s.toProvider + s.toRenter + s.fee}, not the order's amount ${a.terms.amount}`
  if (s.totalSlots !== a.terms.slots || s.upSlots > s.totalSlots)
    return `a settlement of ${s.upSlots} up of ${s.totalSlots} slots, for an order of ${a.terms.slots}`
  if (['opened', 'active', 'ended'].includes(a.state)) return `a settlement of an order still ${a.state}`
  // Slot statuses that cover the order must count the settlement's up slots, and its reason must be theirs.
  if (a.uptime?.length === a.terms.slots) {
    const up = [...a.uptime].filter((c) => c === 'C' || c === 'T').length
    if (up !== s.upSlots) return `a settlement of ${s.upSlots} up slots beside statuses of ${up}`
  }
  if (a.reason !== undefined && a.reason !== reasonOf(s))
    return `a settlement of ${s.upSlots} up slots as ${a.reason}`
  return undefined
}
