import { gpuClassById } from './classes.js'
import type { GpuRequirement } from './requirement.js'

/** What settlement reads of one GPU in a heartbeat's telemetry. */
export interface GpuSeen {
  name: string
  uuid: string
  memoryTotalMiB: number | null
}

export type TelemetryMatch =
  | { kind: 'missing' }
  | { kind: 'mismatch' }
  /** The UUIDs of every GPU that fits the requirement, sorted; at least `count` of them. */
  | { kind: 'match'; uuids: string[] }

/**
 * Whether one heartbeat's telemetry shows the GPUs an order rents: at least
 * `count` distinct GPUs of the class, each reporting a UUID and at least the
 * memory asked. No telemetry (`gpus: null`, or none listed) is `missing`;
 * GPUs that do not add up to the requirement are a `mismatch`. Telemetry is
 * the provider's word: this decides only what it claims, and the compute
 * challenge tests the claim.
 */
export function matchTelemetry(req: GpuRequirement, gpus: readonly GpuSeen[] | null): TelemetryMatch {
  if (!gpus || gpus.length === 0) return { kind: 'missing' }
  const cls = gpuClassById(req.class)
  if (!cls) return { kind: 'mismatch' }
  const uuids = new Set<string>()
  for (const g of gpus)
    if (
      g.uuid !== '' &&
      cls.names.test(g.name) &&
      g.memoryTotalMiB !== null &&
      g.memoryTotalMiB >= req.minVramMiB
    )
      uuids.add(g.uuid)
  return uuids.size >= req.count ? { kind: 'match', uuids: [...uuids].sort() } : { kind: 'mismatch' }
}
