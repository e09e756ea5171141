import { z } from 'zod'
import { canonicalJson } from '../canonicalJson.js'
import { ed25519Verify, type Ed25519Signer } from '../ed25519.js'

/** Every peer response is an envelope signed by the serving relayer's identity key. */
export const envelopeSchema = z.strictObject({
  relayerId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
  /** Unix ms when it was signed: a stale envelope replayed later is refused. */
  signedAt: z.number().int().nonnegative(),
  body: z.unknown(),
  signature: z.string().regex(/^0x[0-9a-f]{128}$/),
})
export type Envelope = z.infer<typeof envelopeSchema>

const bytes = (tag: string, e: Omit<Envelope, 'signature'>) =>
  Buffer.from(
    `qantara/peer/${tag}/v1\n${canonicalJson({ relayerId: e.relayerId, signedAt: e.signedAt, body: e.body })}`,
    'utf8',
  )

export function sealEnvelope(
  tag: string,
  relayerId: string,
  identity: Ed25519Signer,
  body: unknown,
  nowMs = Date.now(),
): Envelope {
  const unsigned = { relayerId, signedAt: nowMs, body }
  return { ...unsigned, signature: identity.sign(bytes(tag, unsigned)) }
}

/** Opens an envelope from `expectedRelayer`; undefined when it is not from them, not for `tag`, or older than `maxAgeMs`. */
export function openEnvelope(
  tag: string,
  input: unknown,
  expectedRelayer: string,
  relayerKeys: ReadonlyMap<string, string>,
  maxAgeMs: number,
  nowMs = Date.now(),
): unknown {
  const parsed = envelopeSchema.safeParse(input)
  if (!parsed.success) return undefined
  const e = parsed.data
  const key = relayerKeys.get(e.relayerId)
  if (e.relayerId !== expectedRelayer || !key || Math.abs(nowMs - e.signedAt) > maxAgeMs) return undefined
  let signed: Uint8Array
  try {
    signed = bytes(tag, e)
  } catch {
    // A body canonical JSON cannot write (a float, nesting past its depth) was never sealed by anyone.
    return undefined
  }
  return ed25519Verify(key, signed, e.signature) ? e.body : undefined
}
