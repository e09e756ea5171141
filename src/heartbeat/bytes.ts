import { canonicalJson } from '../canonicalJson.js'
import type { Challenge, Heartbeat, SignedHeartbeat } from './schema.js'
import type { GpuSeen } from '../gpu/telemetryMatch.js'

/** Domain tags: a signature over one kind of message can never be replayed as another. */
export const CHALLENGE_TAG = 'qantara/challenge/v1\n'
export const HEARTBEAT_TAG = 'qantara/heartbeat/v1\n'

export function challengeBytes(c: Challenge): Buffer {
  return Buffer.from(CHALLENGE_TAG + canonicalJson(c), 'utf8')
}

export function heartbeatBytes(h: Heartbeat): Buffer {
  return Buffer.from(HEARTBEAT_TAG + canonicalJson(h), 'utf8')
}

/** The Merkle leaf a settlement commits to for one heartbeat. */
export function heartbeatLeaf(s: SignedHeartbeat): Buffer {
  return Buffer.from(canonicalJson(s), 'utf8')
}

/**
 * What settlement reads of a kept heartbeat's telemetry, from its stored
 * body (verified before it was kept). A body that does not read as one
 * counts as no telemetry: settlement then treats the slot as GPU-less.
 */
export function gpusSeenIn(body: string): GpuSeen[] | null {
  try {
    const gpus = (JSON.parse(body) as SignedHeartbeat).heartbeat.gpus
    return Array.isArray(gpus) && gpus.length > 0
      ? gpus.map((g) => ({ name: g.name, uuid: g.uuid, memoryTotalMiB: g.memoryTotalMiB }))
      : null
  } catch {
    return null
  }
}

/** `gpusSeenIn` as the store keeps it beside the body, so settlement never loads bodies. */
export function gpusColumn(body: string): string {
  return JSON.stringify(gpusSeenIn(body))
}
