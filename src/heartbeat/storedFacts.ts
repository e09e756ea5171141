import type { GpuSeen } from '../gpu/telemetryMatch.js'
import type { ComputeVerdict } from '../gpu/transcript.js'
import type { SignedHeartbeat } from './schema.js'

export interface StoredFacts {
  /** The GPUs its telemetry lists, as JSON (null when none). */
  gpus: string
  /** Null for a heartbeat answering no compute challenge; `declined` for one that answers it without a commitment. */
  compute: ComputeVerdict | null
  /** The challenge signature and committed root a transcript of this heartbeat must be for. */
  challengeKey: string | null
}

/**
 * What settlement reads of a kept heartbeat, from its stored body (verified
 * before it was kept), kept in columns beside it so settlement never loads
 * bodies. A body that does not read as a heartbeat counts as one with no
 * telemetry and no compute challenge.
 */
export function storedFacts(body: string): StoredFacts {
  let hb: SignedHeartbeat['heartbeat'] | undefined
  try {
    hb = (JSON.parse(body) as SignedHeartbeat).heartbeat
  } catch {
    hb = undefined
  }
  const gpus = Array.isArray(hb?.gpus) && hb.gpus.length > 0 ? hb.gpus : null
  const challenged = hb?.challenge?.challenge?.compute !== undefined
  const root = hb?.commitment
  return {
    gpus: JSON.stringify(
      gpus?.map((g): GpuSeen => ({ name: g.name, uuid: g.uuid, memoryTotalMiB: g.memoryTotalMiB })) ?? null,
    ),
    compute: !challenged ? null : root === undefined ? 'declined' : 'unanswered',
    challengeKey: challenged && root !== undefined ? `${hb!.challenge.signature}:${root}` : null,
  }
}
