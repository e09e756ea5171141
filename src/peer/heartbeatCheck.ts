import { canonicalJson } from '../canonicalJson.js'
import { outranks } from '../computeSettlement.js'
import type { ComputeVerdict } from '../gpu/transcript.js'
import type { SignedHeartbeat } from '../heartbeat/schema.js'
import { verifyHeartbeat, type Rejection } from '../heartbeat/verify.js'
import { merkleLeafHash } from '../merkle.js'
import type { OrderTerms } from '../order.js'

/** What we hold for one slot and witness: what decides whether a peer's heartbeat would replace it. */
export type Held = { leafHash: string; compute: ComputeVerdict | null }

/** A peer's heartbeat once checked: the verified one (or the one we hold that it matches), and its bytes when new to us. */
export interface Checked {
  heartbeat?: SignedHeartbeat
  fresh?: string
}

/**
 * Verifies one of a peer's heartbeats of `order` unless it would not replace
 * what `held` says we hold (see `outranks`); a verified one is entered in
 * `held`. A refusal's code, for the caller to count against the peer.
 */
export function checkPeerHeartbeat(
  o: { relayerKeys: ReadonlyMap<string, string>; skewMs: number },
  order: OrderTerms,
  raw: unknown,
  held: Map<string, Held>,
): Checked | { refused: Rejection } {
  const claimed = (
    raw as {
      heartbeat?: { challenge?: { challenge?: { slot?: unknown; relayerId?: unknown; compute?: unknown } } }
    } | null
  )?.heartbeat?.challenge?.challenge
  const text = canonicalJsonOrUndefined(raw)
  const kept = held.get(`${String(claimed?.slot)}:${String(claimed?.relayerId)}`)
  const offered = text && {
    leafHash: merkleLeafHash(text),
    compute: claimed?.compute ? ('unanswered' as const) : null,
  }
  if (offered && kept !== undefined && !outranks(offered, kept))
    // The very heartbeat we hold (verified when kept) may bring a transcript; one that ranks lower is not ours.
    return offered.leafHash === kept.leafHash ? { heartbeat: JSON.parse(text) as SignedHeartbeat } : {}
  if (text === undefined) return { refused: 'MALFORMED' }
  const verdict = verifyHeartbeat(text, { order, relayerKeys: o.relayerKeys, skewMs: o.skewMs })
  if (!verdict.ok) return { refused: verdict.code }
  const { challenge } = verdict.heartbeat.heartbeat.challenge
  const canonical = canonicalJson(verdict.heartbeat)
  held.set(`${challenge.slot}:${challenge.relayerId}`, {
    leafHash: merkleLeafHash(canonical),
    compute: challenge.compute ? 'unanswered' : null,
  })
  return { heartbeat: verdict.heartbeat, fresh: canonical }
}

/** The order a peer's heartbeat claims to be of (verified with the rest when kept), if it looks like an order id. */
export function claimedOrderId(raw: unknown): string | undefined {
  const id = (raw as { heartbeat?: { challenge?: { challenge?: { orderId?: unknown } } } } | null)?.heartbeat
    ?.challenge?.challenge?.orderId
  return typeof id === 'string' && /^0x[0-9a-f]{64}$/.test(id) ? id : undefined
}

/** A peer's item as canonical JSON, or undefined when it cannot be (floats, cycles): such an item is junk. */
function canonicalJsonOrUndefined(raw: unknown): string | undefined {
  try {
    return canonicalJson(raw)
  } catch {
    return undefined
  }
}
