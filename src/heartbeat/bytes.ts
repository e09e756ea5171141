import { canonicalJson } from '../canonicalJson.js'
import type { Challenge, Heartbeat, SignedHeartbeat } from './schema.js'

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
