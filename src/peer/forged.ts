import { canonicalJson } from '../canonicalJson.js'
import { generateEd25519, type Ed25519Signer } from '../ed25519.js'
import { challengeBytes, heartbeatBytes } from '../heartbeat/bytes.js'
import type { Heartbeat } from '../heartbeat/schema.js'
import type { ChainRuntime } from '../chains.js'
import type { Settlement } from '../settlement.js'
import { computeSettlement, type SettlementResult } from '../computeSettlement.js'
import type { SettlementStrategy } from '../relay/settlementStrategy.js'
import type { SettlementWire } from '../settlementWire.js'
import type { Store } from '../store/store.js'
import type { Peer } from './gossip.js'

/**
 * TESTING ONLY (faults.byzantine): what a byzantine relayer serves its peers,
 * to show the honest ones still settle as they would without it:
 * - heartbeats it invents for every slot (its own challenges, answered with a
 *   key that is not the provider's): refused with BAD_SIGNATURE;
 * - its own real heartbeats to every other request only, so its peers start
 *   from different sets (they converge through each other);
 * - its EVM signature over a peer's settlement, malleated (s → n − s, v
 *   flipped): it recovers to it, but the escrow refuses it.
 */
export interface ByzantineServing {
  forged(orderId: string): Promise<unknown[]>
  heartbeats<T extends { relayerId: string }>(rows: T[], self: string): T[]
  /** What it serves at /v1/peer/signatures: a malleated signature over a peer's settlement when it can get one. */
  signature(orderId: string, own: SignatureBody): Promise<SignatureBody>
}

export interface SignatureBody { orderId: string; settlement: SettlementWire; settlementHash: string; signer: string; signature: string }

export function byzantineServing(o: { relayerId: string; identity: Ed25519Signer; peers: Peer[]; store: Store; chains: ChainRuntime[] }): ByzantineServing {
  let requests = 0
  return {
    // One per slot of the order, so the page passes the receiver's size check and each forgery costs it a signature check.
    forged: async (orderId) => forgedHeartbeats(orderId, o.relayerId, o.identity, Math.min(64, (await o.store.getOrder(orderId))?.terms.slots ?? 0)),
    heartbeats: (rows, self) => (requests++ % 2 === 0 ? rows : rows.filter((r) => r.relayerId !== self)),
    signature: async (orderId, own) => {
      const terms = (await o.store.getOrder(orderId))?.terms
      const chain = terms && o.chains.find((c) => c.chain === terms.chain)
      for (const peer of o.peers) {
        const res = await fetch(`${peer.url}/v1/peer/signatures/${orderId}`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined)
        const theirs = res?.ok ? ((await res.json()) as { body?: SignatureBody }).body : undefined
        if (!theirs || !terms || !chain) continue
        const settlement: Settlement = { ...theirs.settlement, toProvider: BigInt(theirs.settlement.toProvider), toRenter: BigInt(theirs.settlement.toRenter), fee: BigInt(theirs.settlement.fee) }
        const signed = await chain.signSettlement(terms, settlement)
        return { ...theirs, signer: signed.signer, signature: malleated(signed.signature) }
      }
      return { ...own, signature: malleated(own.signature) }
    },
  }
}

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/** The other valid form of a 65-byte ECDSA signature; anything else unchanged. */
function malleated(signature: string): string {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) return signature
  const s = BigInt(`0x${signature.slice(66, 130)}`)
  const v = Number.parseInt(signature.slice(130), 16)
  return `${signature.slice(0, 66)}${(SECP256K1_N - s).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}`
}

function forgedHeartbeats(orderId: string, relayerId: string, identity: Ed25519Signer, slots = 64): unknown[] {
  const fake = generateEd25519().signer
  return Array.from({ length: slots }, (_, slot) => {
    const challenge = { v: 1 as const, orderId, slot, relayerId, relayerKey: identity.publicKey, salt: `0x${'00'.repeat(31)}${slot.toString(16).padStart(2, '0')}`, issuedAt: Date.now() }
    const heartbeat: Heartbeat = { v: 1, challenge: { challenge, signature: identity.sign(challengeBytes(challenge)) }, timestamp: challenge.issuedAt, gpus: null, gpuUnavailable: 'forged' }
    return JSON.parse(canonicalJson({ heartbeat, signature: fake.sign(heartbeatBytes(heartbeat)) })) as unknown
  })
}

/** What a byzantine relayer signs and posts: the provider paid in full whatever the heartbeats say, submitted alone. */
export function byzantineStrategy(feeBps: number): SettlementStrategy {
  return { compute: (order, heartbeats, policy) => inflate(computeSettlement(order, heartbeats, policy), order.amount, feeBps), postsAlone: true }
}

function inflate(r: SettlementResult, amount: bigint, feeBps: number): SettlementResult {
  const fee = (amount * BigInt(feeBps)) / 10_000n
  return { ...r, reason: 'FULL', uptime: '1'.repeat(r.settlement.totalSlots), settlement: { ...r.settlement, upSlots: r.settlement.totalSlots, toProvider: amount - fee, toRenter: 0n, fee } }
}
