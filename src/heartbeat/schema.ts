import { z } from 'zod'
import { MAX_CHALLENGE_N } from '../gpu/challengeMatrices.js'
import { MAX_GPUS_PER_ORDER } from '../gpu/requirement.js'

const hex32 = z.string().regex(/^0x[0-9a-f]{64}$/, 'must be 32 bytes of lower-case 0x hex')
const hex64 = z.string().regex(/^0x[0-9a-f]{128}$/, 'must be 64 bytes of lower-case 0x hex')
const uint = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)

/** A relayer's challenge for one order and slot, signed with its identity key. */
export const challengeSchema = z.strictObject({
  v: z.literal(1),
  orderId: hex32,
  slot: uint.max(2 ** 32 - 1),
  relayerId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
  relayerKey: hex32,
  salt: hex32,
  issuedAt: uint,
  /**
   * In the slots the quorum draws (docs/PROTOCOL.md §9), and only after the provider signed its heartbeat for this
   * relayer's plain challenge of the slot (`follows`, that heartbeat's signature): compute C = A·B for this seed and
   * size, once per GPU of the order (`count` products), and commit to them. The plain challenge looks the same in every slot, so the provider is committed to being
   * there before it can tell a slot is checked.
   */
  compute: z
    .strictObject({
      seed: hex32,
      n: uint.min(1).max(MAX_CHALLENGE_N),
      count: uint.min(1).max(MAX_GPUS_PER_ORDER),
      follows: hex64,
    })
    .optional(),
})

export const signedChallengeSchema = z.strictObject({ challenge: challengeSchema, signature: hex64 })

/** One GPU as nvidia-smi reports it; a field nvidia-smi reports as [N/A] is null. */
export const gpuSchema = z.strictObject({
  index: uint.max(255),
  name: z.string().max(128),
  uuid: z.string().max(128),
  memoryTotalMiB: uint.nullable(),
  memoryUsedMiB: uint.nullable(),
  utilizationPct: uint.max(100).nullable(),
  temperatureC: uint.max(200).nullable(),
  powerDrawMilliwatts: uint.nullable(),
})

export const heartbeatSchema = z.strictObject({
  v: z.literal(1),
  challenge: signedChallengeSchema,
  /** Provider clock, ms since the Unix epoch. */
  timestamp: uint,
  /** Telemetry from nvidia-smi, or null with the reason there is none — never invented numbers. */
  gpus: z.array(gpuSchema).max(16).nullable(),
  gpuUnavailable: z.string().max(256).optional(),
  /** For a challenge with `compute`: the Merkle root of C's rows, which the provider's signature over the heartbeat commits it to. */
  commitment: hex32.optional(),
})

export const signedHeartbeatSchema = z.strictObject({ heartbeat: heartbeatSchema, signature: hex64 })

export type Challenge = z.infer<typeof challengeSchema>
export type SignedChallenge = z.infer<typeof signedChallengeSchema>
export type GpuTelemetry = z.infer<typeof gpuSchema>
export type Heartbeat = z.infer<typeof heartbeatSchema>
export type SignedHeartbeat = z.infer<typeof signedHeartbeatSchema>
