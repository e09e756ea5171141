import { canonicalJson } from '../../src/canonicalJson.js'
import { generateEd25519, type Ed25519Signer } from '../../src/ed25519.js'
import { challengeBytes, heartbeatBytes } from '../../src/heartbeat/bytes.js'
import type { Heartbeat } from '../../src/heartbeat/schema.js'
import type { RelayerParts } from '../../src/app/relayer.js'
import type { Settlement } from '../../src/settlement.js'
import { computeSettlement, type SettlementResult } from '../../src/computeSettlement.js'
import type { SettlementStrategy } from '../../src/relay/settlementStrategy.js'
import type { PeerSource, SignatureBody } from '../../src/peer/routes.js'
import type { Transcript } from '../../src/gpu/transcript.js'

/**
 * What a byzantine relayer serves its peers, around what an honest one would,
 * to show the honest ones still settle as they would without it:
 * - heartbeats it invents for every slot (its own challenges, answered with a
 *   key that is not the provider's): refused with BAD_SIGNATURE;
 * - its own real heartbeats to every other request only, so its peers start
 *   from different sets (they converge through each other);
 * - its EVM signature over a peer's settlement, malleated (s → n − s, v
 *   flipped): it recovers to it, but the escrow refuses it;
 * - compute challenge transcripts with a row changed under the provider's
 *   signature, a forged proof that the provider answered wrong: ignored.
 */
export function byzantinePeerSource(honest: PeerSource, o: RelayerParts): PeerSource {
  let requests = 0
  return {
    async heartbeats(orderId, since) {
      const page = await honest.heartbeats(orderId, since)
      const served =
        requests++ % 2 === 0 ? page.heartbeats : page.heartbeats.filter((h) => h.relayerId !== o.relayerId)
      // One per slot of the order, so the page passes the receiver's size check and each forgery costs it a signature check.
      const forged =
        since === 0
          ? forgedHeartbeats(
              orderId,
              o.relayerId,
              o.identity,
              Math.min(64, (await o.store.getOrder(orderId))?.terms.slots ?? 0),
            )
          : []
      const heartbeats = [...served, ...forged.map((heartbeat) => ({ relayerId: o.relayerId, heartbeat }))]
      return { heartbeats, cursor: Math.max(page.cursor, since + heartbeats.length), more: page.more }
    },
    // The feed likewise: its own real heartbeats every other time, and forgeries for the first order on each page.
    async feed(since) {
      const page = await honest.feed(since)
      const served =
        requests++ % 2 === 0 ? page.heartbeats : page.heartbeats.filter((h) => h.relayerId !== o.relayerId)
      const first = (
        page.heartbeats[0]?.heartbeat as { heartbeat?: { challenge?: { challenge?: { orderId?: string } } } }
      )?.heartbeat?.challenge?.challenge?.orderId
      const forged = first ? forgedHeartbeats(first, o.relayerId, o.identity, 4) : []
      const heartbeats = [...served, ...forged.map((heartbeat) => ({ relayerId: o.relayerId, heartbeat }))]
      return { heartbeats, cursor: Math.max(page.cursor, since + heartbeats.length), more: page.more }
    },
    // Served whether or not it has signed yet: the peer asking has (it signs before it asks), so there is one to malleate.
    async signature(orderId) {
      return malleatedSignature(o, orderId, await honest.signature(orderId))
    },
    // A wrong answer the provider never signed, to frame it: one row's value changed under the provider's signature.
    async transcript(orderId, slot, relayerId) {
      const real = (await honest.transcript(orderId, slot, relayerId)) as Transcript | undefined
      if (!real?.rows[0]) return real
      const [first, ...rest] = real.rows
      const values = Buffer.from(first.values, 'base64')
      values.writeInt32LE(values.readInt32LE(0) + 1, 0)
      return { ...real, rows: [{ ...first, values: values.toString('base64') }, ...rest] }
    },
  }
}

/** What it serves at /v1/peer/signatures: a malleated signature over a peer's settlement when it can get one, else over its own. */
async function malleatedSignature(
  o: RelayerParts,
  orderId: string,
  own: SignatureBody | undefined,
): Promise<SignatureBody | undefined> {
  const terms = (await o.store.getOrder(orderId))?.terms
  const chain = terms && o.chains.find((c) => c.chain === terms.chain)
  // A peer's signature may be moments away (it signs, then asks us): asked again for about 1.5 s, within the asker's
  // deadline, so the malleated copy reaches it rather than depending on who signed first.
  const askers = Array.from({ length: 5 }, () => o.peers).flat()
  for (const [i, peer] of askers.entries()) {
    if (i > 0 && i % o.peers.length === 0) await new Promise((r) => setTimeout(r, 250))
    const res = await fetch(`${peer.url}/v1/peer/signatures/${orderId}`, {
      signal: AbortSignal.timeout(400),
    }).catch(() => undefined)
    const theirs = res?.ok
      ? ((await res.json().catch(() => ({}))) as { body?: SignatureBody }).body
      : undefined
    if (!theirs || !terms || !chain) continue
    const settlement: Settlement = {
      ...theirs.settlement,
      toProvider: BigInt(theirs.settlement.toProvider),
      toRenter: BigInt(theirs.settlement.toRenter),
      fee: BigInt(theirs.settlement.fee),
    }
    const signed = await chain.signSettlement(terms, settlement)
    return { ...theirs, signer: signed.signer, signature: malleated(signed.signature) }
  }
  return own && { ...own, signature: malleated(own.signature) }
}

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/** The other valid form of a 65-byte ECDSA signature; anything else unchanged. */
function malleated(signature: string): string {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) return signature
  const s = BigInt(`0x${signature.slice(66, 130)}`)
  const v = Number.parseInt(signature.slice(130), 16)
  return `${signature.slice(0, 66)}${(SECP256K1_N - s).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}`
}

function forgedHeartbeats(
  orderId: string,
  relayerId: string,
  identity: Ed25519Signer,
  slots = 64,
): unknown[] {
  const fake = generateEd25519().signer
  return Array.from({ length: slots }, (_, slot) => {
    const challenge = {
      v: 1 as const,
      orderId,
      slot,
      relayerId,
      relayerKey: identity.publicKey,
      salt: `0x${'00'.repeat(31)}${slot.toString(16).padStart(2, '0')}`,
      issuedAt: Date.now(),
    }
    const heartbeat: Heartbeat = {
      v: 1,
      challenge: { challenge, signature: identity.sign(challengeBytes(challenge)) },
      timestamp: challenge.issuedAt,
      gpus: null,
      gpuUnavailable: 'forged',
    }
    return JSON.parse(
      canonicalJson({ heartbeat, signature: fake.sign(heartbeatBytes(heartbeat)) }),
    ) as unknown
  })
}

/** What a byzantine relayer signs and posts: the provider paid in full whatever the heartbeats say, submitted alone. */
export function byzantineStrategy(feeBps: number): SettlementStrategy {
  return {
    compute: (order, heartbeats, policy) =>
      inflate(computeSettlement(order, heartbeats, policy), order.amount, feeBps),
    postsAlone: true,
  }
}

function inflate(r: SettlementResult, amount: bigint, feeBps: number): SettlementResult {
  const fee = (amount * BigInt(feeBps)) / 10_000n
  return {
    ...r,
    reason: 'FULL',
    uptime: '1'.repeat(r.settlement.totalSlots),
    settlement: {
      ...r.settlement,
      upSlots: r.settlement.totalSlots,
      toProvider: amount - fee,
      toRenter: 0n,
      fee,
    },
  }
}
