import { ed25519Verify } from '../ed25519.js'
import { challengeSizeOf } from '../gpu/deadlines.js'
import { challengeBytes, heartbeatBytes } from './bytes.js'
import { signedHeartbeatSchema, type SignedHeartbeat } from './schema.js'

/** Largest heartbeat accepted, in bytes of JSON; sixteen GPUs fit in a quarter of it. */
export const MAX_HEARTBEAT_BYTES = 16 * 1024

export const REJECTIONS = [
  'TOO_LARGE',
  'MALFORMED',
  'WRONG_ORDER',
  'WRONG_SLOT',
  'UNKNOWN_RELAYER',
  'BAD_CHALLENGE_SIGNATURE',
  'BAD_SIGNATURE',
  'STALE',
  'UNKNOWN_NONCE',
  'REPLAYED_NONCE',
] as const
export type Rejection = (typeof REJECTIONS)[number]

export type Verdict =
  { ok: true; heartbeat: SignedHeartbeat } | { ok: false; code: Rejection; detail: string }

export interface VerifyContext {
  /** With `start` and `slotLength`, the challenge must also have been issued inside its slot. */
  order: {
    id: string
    providerId: string
    slots: number
    start?: bigint
    slotLength?: number
    /** With it, a compute challenge must be of its class's size and its count: a relayer cannot ask for work the order does not take. */
    gpu?: { class: string; count: number }
  }
  /** The slot the heartbeat must be for; undefined accepts any slot of the order (gossip). */
  slot?: number
  /** Identity keys of the relayer set, by relayer id. */
  relayerKeys: ReadonlyMap<string, string>
  /** This relayer's clock. Omitted for gossiped heartbeats, which are held to the time their challenge was issued. */
  nowMs?: number
  skewMs: number
  /** When set, the heartbeat must answer a challenge this relayer issued, and uses it up. */
  own?: {
    relayerId: string
    /** Whether this relayer issued exactly this challenge (salt and signature). */
    issued: (salt: string, signature: string) => boolean
    consume: (salt: string, orderId: string, slot: number) => 'ok' | 'unknown' | 'replayed'
  }
}

/**
 * Checks one heartbeat, cheapest test first, and says why it is refused. The
 * nonce is used up only after both signatures verify, so a forged answer
 * cannot burn a relayer's challenge.
 */
export function verifyHeartbeat(raw: string | Buffer, ctx: VerifyContext): Verdict {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length
  if (size > MAX_HEARTBEAT_BYTES) return no('TOO_LARGE', `${size} bytes, limit ${MAX_HEARTBEAT_BYTES}`)
  let json: unknown
  try {
    json = JSON.parse(raw.toString())
  } catch {
    return no('MALFORMED', 'not JSON')
  }
  const parsed = signedHeartbeatSchema.safeParse(json)
  if (!parsed.success)
    return no(
      'MALFORMED',
      parsed.error.issues
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .join('; ')
        .slice(0, 300),
    )
  const hb = parsed.data
  const { challenge, signature: challengeSig } = hb.heartbeat.challenge
  if (hb.heartbeat.commitment !== undefined && challenge.compute === undefined)
    return no('MALFORMED', 'a commitment answers no compute challenge')
  if (challenge.compute && ctx.order.gpu && challenge.compute.n !== challengeSizeOf(ctx.order.gpu.class)?.n)
    return no(
      'MALFORMED',
      `a compute challenge of n = ${challenge.compute.n}, not the size of the order's class`,
    )
  if (challenge.compute && ctx.order.gpu && challenge.compute.count !== ctx.order.gpu.count)
    return no(
      'MALFORMED',
      `a compute challenge of ${challenge.compute.count} products for an order of ${ctx.order.gpu.count} GPUs`,
    )
  if (challenge.orderId !== ctx.order.id) return no('WRONG_ORDER', `for order ${challenge.orderId}`)
  if (challenge.slot >= ctx.order.slots || (ctx.slot !== undefined && challenge.slot !== ctx.slot))
    return no('WRONG_SLOT', `for slot ${challenge.slot}`)
  if (ctx.order.start !== undefined && ctx.order.slotLength !== undefined) {
    const slotStart = (Number(ctx.order.start) + challenge.slot * ctx.order.slotLength) * 1000
    if (challenge.issuedAt < slotStart || challenge.issuedAt >= slotStart + ctx.order.slotLength * 1000)
      return no('WRONG_SLOT', `challenge issued outside slot ${challenge.slot}`)
  }
  const relayerKey = ctx.relayerKeys.get(challenge.relayerId)
  if (relayerKey === undefined || relayerKey !== challenge.relayerKey)
    return no('UNKNOWN_RELAYER', `challenge names ${challenge.relayerId}`)
  const mine = ctx.own !== undefined && challenge.relayerId === ctx.own.relayerId
  if (mine && !ctx.own!.issued(challenge.salt, challengeSig))
    return no('UNKNOWN_NONCE', 'not a challenge this relayer issued')
  // A challenge this relayer issued needs no signature check: it is byte-for-byte the one in its book.
  if (!mine && !ed25519Verify(relayerKey, challengeBytes(challenge), challengeSig))
    return no('BAD_CHALLENGE_SIGNATURE', `challenge not signed by ${challenge.relayerId}`)
  if (!ed25519Verify(ctx.order.providerId, heartbeatBytes(hb.heartbeat), hb.signature))
    return no('BAD_SIGNATURE', "not signed by the order's provider key")
  const skew = Math.abs(hb.heartbeat.timestamp - (ctx.nowMs ?? challenge.issuedAt))
  if (skew > ctx.skewMs) return no('STALE', `provider clock off by ${skew} ms`)
  if (ctx.own) {
    const used =
      challenge.relayerId === ctx.own.relayerId
        ? ctx.own.consume(challenge.salt, challenge.orderId, challenge.slot)
        : 'unknown'
    if (used === 'unknown') return no('UNKNOWN_NONCE', 'not a challenge this relayer issued')
    if (used === 'replayed') return no('REPLAYED_NONCE', 'challenge already answered')
  }
  return { ok: true, heartbeat: hb }
}

const no = (code: Rejection, detail: string): Verdict => ({ ok: false, code, detail })
