import { canonicalJson } from '../canonicalJson.js'
import { generateEd25519, type Ed25519Signer } from '../ed25519.js'
import { challengeBytes, heartbeatBytes } from '../heartbeat/bytes.js'
import type { Heartbeat } from '../heartbeat/schema.js'

/**
 * TESTING ONLY (faults.byzantine): heartbeats a byzantine relayer invents for
 * every slot — its own challenges, answered with a key that is not the
 * provider's. Honest peers must refuse every one with BAD_SIGNATURE.
 */
export function forgedHeartbeats(orderId: string, relayerId: string, identity: Ed25519Signer, slots = 64): unknown[] {
  const fake = generateEd25519().signer
  return Array.from({ length: slots }, (_, slot) => {
    const challenge = { v: 1 as const, orderId, slot, relayerId, relayerKey: identity.publicKey, salt: `0x${'00'.repeat(31)}${slot.toString(16).padStart(2, '0')}`, issuedAt: Date.now() }
    const heartbeat: Heartbeat = { v: 1, challenge: { challenge, signature: identity.sign(challengeBytes(challenge)) }, timestamp: challenge.issuedAt, gpus: null, gpuUnavailable: 'forged' }
    return JSON.parse(canonicalJson({ heartbeat, signature: fake.sign(heartbeatBytes(heartbeat)) })) as unknown
  })
}
