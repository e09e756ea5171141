import type { GpuSeen } from '../gpu/telemetryMatch.js'
import type { SignedHeartbeat } from './schema.js'

/**
 * What settlement reads of a kept heartbeat, from its stored body (verified
 * before it was kept), kept in columns beside it so settlement never loads
 * bodies. A body that does not read as a heartbeat counts as one with no
 * telemetry and no compute challenge.
 */
export function storedFacts(body: string): { gpus: string; challenged: boolean } {
  let hb: SignedHeartbeat['heartbeat'] | undefined
  try {
    hb = (JSON.parse(body) as SignedHeartbeat).heartbeat
  } catch {
    hb = undefined
  }
  const gpus = Array.isArray(hb?.gpus) && hb.gpus.length > 0 ? hb.gpus : null
  return {
    gpus: JSON.stringify(
      gpus?.map((g): GpuSeen => ({ name: g.name, uuid: g.uuid, memoryTotalMiB: g.memoryTotalMiB })) ?? null,
    ),
    challenged: hb?.challenge?.challenge?.compute !== undefined,
  }
}
