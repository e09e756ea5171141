import { ORDER_LIMITS, type OrderTerms } from './order.js'
import type { Settlement, SettlementReason } from './settlement.js'
import { merkleRootOfLeafHashes } from './merkle.js'
import { matchTelemetry, type GpuSeen, type TelemetryMatch } from './gpu/telemetryMatch.js'
import type { ComputeVerdict } from './gpu/transcript.js'

/** The facts of one verified heartbeat that settlement depends on. */
export interface HeartbeatFact {
  orderId: string
  slot: number
  relayerId: string
  /** `merkleLeafHash` of the heartbeat's canonical signed bytes, committed by the Merkle root. */
  leafHash: string
  /** The GPUs its telemetry lists, or null when it had none. */
  gpus: GpuSeen[] | null
  /** How the compute challenge it answers went; null or absent when its relayer did not challenge that slot. */
  compute?: ComputeVerdict | null
}

export interface SettlementPolicy {
  /** Distinct relayers that must hold a valid record for a slot to count as up. */
  threshold: number
  /** Relayer fee, in basis points of the provider's gross share. */
  feeBps: number
  feeRecipient: string
  /**
   * The quorum's shared compute challenge schedule (docs/PROTOCOL.md §9): in a
   * scheduled slot a record without an answered compute challenge is
   * unanswered (the provider signed the slot's heartbeat, then did not take
   * the check), and when the order's last slot is scheduled the order must
   * close on a proof.
   */
  scheduled?: (slot: number) => boolean
}

/**
 * What became of each slot, one character per slot in `SettlementResult.uptime`.
 * Up: `C` (a quorum of valid records, at least one with a passed compute
 * challenge) or `T` (telemetry matched the ordered GPUs, no challenge that
 * slot). Down whatever else is held, on the provider's own signature: `X`
 * COMPUTE_FAILED (it signed a wrong answer), or a heartbeat of it answering a
 * compute challenge with no commitment (it declined to compute). Otherwise
 * down with the first test that fewer than `threshold` relayers' records
 * passed: `.` no heartbeat (in a checked slot, none at all), `M` GPU_MISSING (no GPU in the telemetry), `W`
 * GPU_MISMATCH (GPUs of another class, too little memory, too few, or not the
 * order's GPUs); then `D` COMPUTE_DECLINED, or `U` COMPUTE_UNANSWERED
 * (challenged, and no valid answer in time). A `U`, `D` or `X` slot also
 * voids every telemetry-only `T` slot since the last `C`: `V`
 * COMPUTE_UNPROVEN. The provider was online and claimed the GPU but could
 * not prove it, so its telemetry since the last proof is worth nothing; for
 * the same reason, so is telemetry after the last proof of an order whose
 * closing slots are checked.
 */
export const SLOT_STATUS = {
  computeVerified: 'C',
  telemetryMatched: 'T',
  noHeartbeat: '.',
  gpuMissing: 'M',
  gpuMismatch: 'W',
  computeUnanswered: 'U',
  computeDeclined: 'D',
  computeFailed: 'X',
  unproven: 'V',
} as const
export type SlotStatus = (typeof SLOT_STATUS)[keyof typeof SLOT_STATUS]

export const SLOT_REASONS: Readonly<Record<SlotStatus, string>> = {
  C: 'COMPUTE_VERIFIED',
  T: 'TELEMETRY_MATCHED',
  '.': 'NO_HEARTBEAT',
  M: 'GPU_MISSING',
  W: 'GPU_MISMATCH',
  U: 'COMPUTE_UNANSWERED',
  D: 'COMPUTE_DECLINED',
  X: 'COMPUTE_FAILED',
  V: 'COMPUTE_UNPROVEN',
}

export function slotIsUp(status: string): boolean {
  return status === SLOT_STATUS.computeVerified || status === SLOT_STATUS.telemetryMatched
}

export interface SettlementResult {
  settlement: Settlement
  reason: SettlementReason
  /** One SLOT_STATUS character per slot. */
  uptime: string
}

const BPS = 10_000n

/**
 * The settlement of an order, as a pure function of its terms and heartbeats,
 * in integer arithmetic. A slot is up when at least `threshold` distinct
 * relayers hold a heartbeat for it whose telemetry shows the order's GPUs:
 * `count` GPUs of the ordered class and memory, the same ones for the whole
 * order (see `orderGpus`). The provider's gross share is amount × upSlots /
 * totalSlots rounded down (the remainder goes to the renter); the relayer fee
 * is taken from that share, rounded down. Heartbeats for other orders or
 * out-of-range slots are ignored, so every honest relayer holding the same set
 * signs the same bytes.
 */
export function computeSettlement(
  order: Pick<OrderTerms, 'id' | 'amount' | 'slots' | 'gpu'>,
  heartbeats: HeartbeatFact[],
  policy: SettlementPolicy,
): SettlementResult {
  if (policy.threshold < 1) throw new RangeError('threshold must be at least 1')
  if (!Number.isSafeInteger(order.slots) || order.slots < 1 || order.slots > ORDER_LIMITS.maxSlots)
    throw new RangeError(`an order of ${order.slots} slots is out of the protocol's bounds`)
  if (policy.feeBps < 0 || policy.feeBps > 10_000 || !Number.isInteger(policy.feeBps))
    throw new RangeError('feeBps must be an integer in 0..10000')
  const relevant = heartbeats.filter(
    (h) => h.orderId === order.id && Number.isInteger(h.slot) && h.slot >= 0 && h.slot < order.slots,
  )
  const bySlot = recordsBySlot(relevant, order.gpu, policy.scheduled ?? (() => false))
  const gpusOfOrder = orderGpus(bySlot, order.gpu.count, policy.threshold)
  // Work follows the heartbeats held, not the slot count; the status string is one allocation of the (bounded) slot count.
  const status = Buffer.alloc(order.slots, SLOT_STATUS.noHeartbeat)
  for (const [slot, records] of bySlot)
    status[slot] = slotStatus(
      [...records.values()],
      gpusOfOrder,
      policy.threshold,
      policy.scheduled?.(slot) ?? false,
    ).charCodeAt(0)
  voidUnproven(status, policy.scheduled ?? (() => false), policy.scheduled?.(order.slots - 1) ?? false)
  let up = 0
  for (const c of status) if (slotIsUp(String.fromCharCode(c))) up++
  const gross = (order.amount * BigInt(up)) / BigInt(order.slots)
  const fee = (gross * BigInt(policy.feeBps)) / BPS
  const settlement: Settlement = {
    orderId: order.id,
    toProvider: gross - fee,
    toRenter: order.amount - gross,
    fee,
    feeRecipient: fee > 0n ? policy.feeRecipient : '',
    upSlots: up,
    totalSlots: order.slots,
    heartbeatRoot: merkleRootOfLeafHashes(relevant.map((h) => h.leafHash)),
  }
  return { settlement, reason: reasonOf(settlement), uptime: status.toString('latin1') }
}

interface SlotRecord {
  telemetry: TelemetryMatch
  compute: ComputeVerdict | null
}
type SlotRecords = Map<number, Map<string, SlotRecord>>

/**
 * Each relayer's record per slot, with what its telemetry shows, as the store
 * keeps it: a heartbeat answering a compute challenge before a plain one,
 * then the lowest leaf hash. In a scheduled slot a plain record is an
 * unanswered check.
 */
function recordsBySlot(
  facts: HeartbeatFact[],
  req: OrderTerms['gpu'],
  scheduled: (slot: number) => boolean,
): SlotRecords {
  const kept = new Map<string, HeartbeatFact>()
  for (const h of facts) {
    const key = `${h.slot}\n${h.relayerId}`
    const other = kept.get(key)
    if (!other || outranks(h, other)) kept.set(key, h)
  }
  const bySlot: SlotRecords = new Map()
  for (const h of kept.values()) {
    let records = bySlot.get(h.slot)
    if (!records) bySlot.set(h.slot, (records = new Map<string, SlotRecord>()))
    const compute = h.compute ?? (scheduled(h.slot) ? 'unanswered' : null)
    records.set(h.relayerId, { telemetry: matchTelemetry(req, h.gpus), compute })
  }
  return bySlot
}

/** Which of one relayer's two heartbeats for a slot is its record: the one answering a compute challenge, then the lowest leaf hash. */
export function outranks(
  a: Pick<HeartbeatFact, 'leafHash' | 'compute'>,
  b: Pick<HeartbeatFact, 'leafHash' | 'compute'>,
): boolean {
  const checkedA = a.compute != null
  const checkedB = b.compute != null
  return checkedA !== checkedB ? checkedA : a.leafHash < b.leafHash
}

/**
 * The GPUs the order runs on: in the first slot where `threshold` relayers'
 * telemetry matches, the `count` lowest matching UUIDs each shows, the set most
 * of them show (ties to the lexically lowest). Every later slot must show these
 * same GPUs, so a provider that swaps a GPU mid-order loses the slots after.
 */
function orderGpus(bySlot: SlotRecords, count: number, threshold: number): string[] | undefined {
  for (const slot of [...bySlot.keys()].sort((a, b) => a - b)) {
    const votes = new Map<string, number>()
    for (const { telemetry: m } of bySlot.get(slot)!.values())
      if (m.kind === 'match') {
        const key = m.uuids.slice(0, count).join('\n')
        votes.set(key, (votes.get(key) ?? 0) + 1)
      }
    if ([...votes.values()].reduce((a, b) => a + b, 0) < threshold) continue
    const [best] = [...votes].sort(([ka, va], [kb, vb]) => vb - va || (ka < kb ? -1 : ka > kb ? 1 : 0))
    return best![0].split('\n')
  }
  return undefined
}

function slotStatus(
  records: SlotRecord[],
  gpus: string[] | undefined,
  threshold: number,
  scheduled: boolean,
): SlotStatus {
  if (records.some((r) => r.compute === 'failed')) return SLOT_STATUS.computeFailed
  const declined = records.some((r) => r.compute === 'declined')
  const matched = records.filter(
    ({ telemetry: m }) => m.kind === 'match' && gpus !== undefined && gpus.every((u) => m.uuids.includes(u)),
  )
  // One pass proves the GPU computed in this slot: another relayer's unanswered reveal is then the network's doing.
  const passed = matched.some((r) => r.compute === 'passed')
  const valid = matched.filter((r) => r.compute !== 'declined' && (passed || r.compute !== 'unanswered'))
  if (valid.length >= threshold && !declined)
    return valid.some((r) => r.compute === 'passed')
      ? SLOT_STATUS.computeVerified
      : SLOT_STATUS.telemetryMatched
  // Down: the first test fewer than a quorum passed, or else the provider's own refusal to compute.
  // Heard by some relayers of a checked slot and not by a quorum, and proved by none: the provider answered until one
  // check told it the slot was checked, then went dark for the rest. A slot no one heard, or one a relayer's check
  // proved, is an outage.
  if (records.length < threshold)
    return scheduled && records.length > 0 && !passed
      ? SLOT_STATUS.computeUnanswered
      : SLOT_STATUS.noHeartbeat
  if (records.filter((r) => r.telemetry.kind !== 'missing').length < threshold) return SLOT_STATUS.gpuMissing
  if (matched.length < threshold) return SLOT_STATUS.gpuMismatch
  return declined ? SLOT_STATUS.computeDeclined : SLOT_STATUS.computeUnanswered
}

const FAILED_CHECKS = new Set(
  [SLOT_STATUS.computeUnanswered, SLOT_STATUS.computeDeclined, SLOT_STATUS.computeFailed].map((c) =>
    c.charCodeAt(0),
  ),
)
/** Telemetry failures that, in a checked slot, are the provider's way out of the check: they void like one. */
const DODGED_CHECKS = new Set([SLOT_STATUS.gpuMissing, SLOT_STATUS.gpuMismatch].map((c) => c.charCodeAt(0)))
const T = SLOT_STATUS.telemetryMatched.charCodeAt(0)
const C = SLOT_STATUS.computeVerified.charCodeAt(0)
const V = SLOT_STATUS.unproven.charCodeAt(0)

/**
 * Turns the telemetry-only slots before each failed check, back to the last
 * passed one, into `V`, in one pass over the slots; a checked slot the
 * provider showed no GPU or other GPUs in is a failed check too (else,
 * learning from one relayer's check that the slot is checked, it could show
 * the others no GPU and lose that slot only). With `closesOnProof`, also
 * those after the last check: an order whose closing slots are checked is
 * paid for telemetry only up to its last proof.
 */
function voidUnproven(status: Buffer, scheduled: (slot: number) => boolean, closesOnProof: boolean): void {
  let since = 0
  for (let slot = 0; slot < status.length; slot++) {
    const c = status[slot]!
    if (c === C) since = slot + 1
    else if (FAILED_CHECKS.has(c) || (DODGED_CHECKS.has(c) && scheduled(slot))) {
      for (let k = since; k < slot; k++) if (status[k] === T) status[k] = V
      since = slot + 1
    }
  }
  if (closesOnProof) for (let k = since; k < status.length; k++) if (status[k] === T) status[k] = V
}

/** Why a settlement pays what it does, from its slot counts alone. */
export function reasonOf(s: Pick<Settlement, 'upSlots' | 'totalSlots'>): SettlementReason {
  return s.upSlots === s.totalSlots ? 'FULL' : s.upSlots === 0 ? 'NO_SHOW' : 'PARTIAL_DOWNTIME'
}
