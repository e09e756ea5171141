import { SLOT_REASONS, slotIsUp, type SlotStatus } from '../computeSettlement.js'
import { signedHeartbeatSchema, type GpuTelemetry } from '../heartbeat/schema.js'
import type { OrderTerms } from '../order.js'
import type { SlotRange, StoredHeartbeat } from '../store/store.js'
import type { Slot } from './schemas.js'

/**
 * Each slot of `range` as a renter reads it: what was proved of it and why a
 * down one is down, and the GPU telemetry one relayer's record of it holds.
 * A slot that has not ended is `pending`: no verdict yet.
 */
export function slotDetail(
  terms: OrderTerms,
  uptime: string,
  range: SlotRange,
  held: readonly StoredHeartbeat[],
  nowSeconds: bigint,
): Slot[] {
  const bySlot = new Map<number, StoredHeartbeat[]>()
  for (const h of held) {
    const list = bySlot.get(h.slot)
    if (list) list.push(h)
    else bySlot.set(h.slot, [h])
  }
  const out: Slot[] = []
  for (let slot = range.from; slot < range.from + range.count; slot++) {
    const records = bySlot.get(slot) ?? []
    const ended = terms.start + BigInt(terms.slotLength) * BigInt(slot + 1) <= nowSeconds
    const status = (uptime[slot] ?? '.') as SlotStatus
    const up = slotIsUp(status)
    out.push({
      slot,
      status,
      up,
      proof: !ended
        ? 'pending'
        : status === 'C'
          ? 'compute-verified'
          : status === 'T'
            ? 'telemetry-matched'
            : records.length > 0
              ? 'heartbeat-only'
              : 'down',
      reason: ended ? (SLOT_REASONS[status] ?? 'UNKNOWN') : 'NOT_ENDED',
      heartbeats: records.length,
      gpus: telemetryOf(records),
    })
  }
  return out
}

/** The first record with readable telemetry; a compacted order's records have no body left. */
function telemetryOf(records: readonly StoredHeartbeat[]): Slot['gpus'] {
  for (const r of records) {
    if (!r.body) continue
    let parsed
    try {
      parsed = signedHeartbeatSchema.safeParse(JSON.parse(r.body))
    } catch {
      continue
    }
    if (parsed.success && parsed.data.heartbeat.gpus) return parsed.data.heartbeat.gpus.map(plainGpu)
  }
  return null
}

function plainGpu(g: GpuTelemetry): NonNullable<Slot['gpus']>[number] {
  return {
    index: g.index,
    name: g.name,
    utilizationPct: g.utilizationPct,
    memoryUsedMiB: g.memoryUsedMiB,
    memoryTotalMiB: g.memoryTotalMiB,
    temperatureC: g.temperatureC,
    powerDrawMilliwatts: g.powerDrawMilliwatts,
  }
}
