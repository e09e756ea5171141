import type { IncomingMessage, ServerResponse } from 'node:http'
import { RateLimiter } from '../agent/rateLimit.js'
import { canonicalJson } from '../canonicalJson.js'
import type { Ed25519Signer } from '../ed25519.js'
import { sendJson } from '../http/body.js'
import type { SettlementSignature } from '../chains.js'
import { isQantaraError } from '../errors.js'
import type { RetargetApprovals } from '../relay/retargetApprovals.js'
import type { Store } from '../store/store.js'
import { sealEnvelope } from './envelope.js'
import type { ByzantineServing } from './forged.js'
import { settlementToWire } from '../settlementWire.js'

/** Heartbeats served per page; a page of full heartbeats stays well under a megabyte. */
export const PEER_PAGE = 200

export interface PeerRoutesOptions {
  relayerId: string
  identity: Ed25519Signer
  store: Store
  /** Test and devnet only: what a byzantine relayer serves its peers (src/peer/forged.ts). */
  byzantine?: ByzantineServing
  /** Test and devnet only: answer this late, as a slow relayer would. */
  delayMs?: number
  /** Co-signs a release message for an order, after rebuilding it from this relayer's own settlement. */
  cosign?: (orderId: string, message: string) => Promise<SettlementSignature>
  /** Light relay retarget approvals: this relayer's own are served at /v1/peer/retarget. */
  retargets?: Pick<RetargetApprovals, 'get'>
}

/**
 * The peer half of the API: this relayer's verified heartbeats and its own
 * settlement signatures, each response sealed with its identity key, rate
 * limited per remote address.
 */
export function peerRoutes(o: PeerRoutesOptions) {
  const limiter = new RateLimiter(50, 200)
  return async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (req.method !== 'GET' || !url.pathname.startsWith('/v1/peer/')) return false
    if (!limiter.take(req.socket.remoteAddress ?? 'unknown')) {
      sendJson(res, 429, { error: 'RATE_LIMITED' })
      return true
    }
    if (o.delayMs) await new Promise((r) => setTimeout(r, o.delayMs))
    if (url.pathname === '/v1/peer/heartbeats') {
      const orderId = url.searchParams.get('order') ?? ''
      const since = Number(url.searchParams.get('since') ?? '0')
      if (!/^0x[0-9a-f]{64}$/.test(orderId) || !Number.isSafeInteger(since) || since < 0) {
        sendJson(res, 400, { error: 'MALFORMED' })
        return true
      }
      const rows = await o.store.listHeartbeatsAfter(orderId, since, PEER_PAGE)
      const heartbeats = (o.byzantine ? o.byzantine.heartbeats(rows, o.relayerId) : rows).map((h) => JSON.parse(h.body) as unknown)
      if (o.byzantine && since === 0) heartbeats.push(...(await o.byzantine.forged(orderId)))
      const cursor = Math.max(rows.at(-1)?.seq ?? since, since + heartbeats.length)
      const more = rows.length === PEER_PAGE
      sendJson(res, 200, undefined, canonicalJson(sealEnvelope('heartbeats', o.relayerId, o.identity, { orderId, heartbeats, cursor, more })))
      return true
    }
    const sig = /^\/v1\/peer\/signatures\/(0x[0-9a-f]{64})$/.exec(url.pathname)
    if (sig) {
      const mine = (await o.store.listSignatures(sig[1]!)).find((s) => s.relayerId === o.relayerId)
      const settlement = (await o.store.getOrder(sig[1]!))?.settlement
      if (!mine || !settlement) sendJson(res, 404, { error: 'NOT_SIGNED_YET' })
      else {
        const body = { orderId: mine.orderId, settlement: settlementToWire(settlement), settlementHash: mine.settlementHash, signer: mine.signer, signature: mine.signature }
        sendJson(res, 200, undefined, canonicalJson(sealEnvelope('signature', o.relayerId, o.identity, o.byzantine ? await o.byzantine.signature(mine.orderId, body) : body)))
      }
      return true
    }
    if (url.pathname === '/v1/peer/retarget') {
      const chain = url.searchParams.get('chain') ?? ''
      const epoch = url.searchParams.get('epoch') ?? ''
      if (!/^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$/.test(chain) || !/^\d{1,12}$/.test(epoch)) {
        sendJson(res, 400, { error: 'MALFORMED' })
        return true
      }
      const mine = o.retargets?.get(chain, BigInt(epoch), o.relayerId)
      if (!mine) sendJson(res, 404, { error: 'NOT_SIGNED_YET' })
      else sendJson(res, 200, undefined, canonicalJson(sealEnvelope('retarget', o.relayerId, o.identity, { chain, epoch, headersHash: mine.headersHash, signer: mine.signer, signature: mine.signature })))
      return true
    }
    const cosign = /^\/v1\/peer\/cosign\/(0x[0-9a-f]{64})$/.exec(url.pathname)
    if (cosign && o.cosign) {
      const message = url.searchParams.get('message') ?? ''
      // A release message: a Solana transaction (at most 1232 bytes) or a Cosmos signing request (under 1 KB).
      if (!/^[A-Za-z0-9_-]{1,1700}$/.test(message)) {
        sendJson(res, 400, { error: 'MALFORMED' })
        return true
      }
      try {
        const sig = await o.cosign(cosign[1]!, Buffer.from(message, 'base64url').toString('base64'))
        sendJson(res, 200, undefined, canonicalJson(sealEnvelope('cosignature', o.relayerId, o.identity, { orderId: cosign[1]!, signer: sig.signer, signature: sig.signature })))
      } catch (err) {
        sendJson(res, 409, { error: isQantaraError(err) ? err.code : 'REFUSED', reason: isQantaraError(err) ? err.details ?? err.shortMessage : 'refused' })
      }
      return true
    }
    sendJson(res, 404, { error: 'NOT_FOUND' })
    return true
  }
}
