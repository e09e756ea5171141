import { decodeLeg, type ReleaseLeg } from '../vault/releaseLeg.js'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { RateLimiter } from '../agent/rateLimit.js'
import { canonicalJson } from '../canonicalJson.js'
import type { Ed25519Signer } from '../ed25519.js'
import { sendJson } from '../http/body.js'
import type { SettlementSignature } from '../chains.js'
import { isQantaraError } from '../errors.js'
import type { RetargetApprovals } from './retargetApprovals.js'
import type { Store, StoredHeartbeat } from '../store/store.js'
import { sealEnvelope } from './envelope.js'
import { settlementToWire, type SettlementWire } from '../settlementWire.js'

/** Heartbeats served per page; a page of full heartbeats stays well under a megabyte. */
export const PEER_PAGE = 200

/** One heartbeat a relayer serves its peers, with the relayer whose challenge it answers. */
export interface ServedHeartbeat {
  relayerId: string
  heartbeat: unknown
  /** The verdict of the compute challenge transcript this relayer holds for it (served at /v1/peer/transcript). */
  transcript?: 'passed' | 'failed'
}

/** A page of an order's heartbeats; `cursor` is where the next page starts. */
export interface HeartbeatPage {
  heartbeats: ServedHeartbeat[]
  cursor: number
  more: boolean
}

/** A relayer's own signature over its settlement of an order, as served to peers. */
export interface SignatureBody {
  orderId: string
  settlement: SettlementWire
  settlementHash: string
  signer: string
  signature: string
}

/**
 * What the peer routes serve, before it is sealed. Production reads it from
 * the store (`storePeerSource`); the dev kit wraps it to play a byzantine
 * peer (devkit/faults).
 */
export interface PeerSource {
  heartbeats(orderId: string, since: number): Promise<HeartbeatPage>
  /** Every order's heartbeats in one sequence after `since`: what a peer pulls each gossip interval with one cursor. */
  feed(since: number): Promise<HeartbeatPage>
  /** Undefined until this relayer has signed its settlement of the order. */
  signature(orderId: string): Promise<SignatureBody | undefined>
  /** The transcript of the compute challenge a kept heartbeat answers, if this relayer holds one. */
  transcript(orderId: string, slot: number, relayerId: string): Promise<unknown>
}

export type PeerHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>

function servedPage(rows: (StoredHeartbeat & { seq: number })[], since: number): HeartbeatPage {
  return {
    // A finished order's compacted heartbeats (retention) are passed over; the cursor still moves past them.
    heartbeats: rows
      .filter((h) => h.body !== '')
      .map((h) => ({
        relayerId: h.relayerId,
        heartbeat: JSON.parse(h.body) as unknown,
        ...(h.hasTranscript && (h.compute === 'passed' || h.compute === 'failed')
          ? { transcript: h.compute }
          : {}),
      })),
    cursor: rows.at(-1)?.seq ?? since,
    more: rows.length === PEER_PAGE,
  }
}

export function storePeerSource(store: Store, relayerId: string): PeerSource {
  return {
    heartbeats: async (orderId, since) =>
      servedPage(await store.listHeartbeatsAfter(orderId, since, PEER_PAGE), since),
    feed: async (since) => servedPage(await store.listHeartbeatFeed(since, PEER_PAGE), since),
    async transcript(orderId, slot, relayerId) {
      const text = await store.getTranscript(orderId, slot, relayerId)
      return text === undefined ? undefined : (JSON.parse(text) as unknown)
    },
    async signature(orderId) {
      const mine = (await store.listSignatures(orderId)).find((s) => s.relayerId === relayerId)
      const settlement = (await store.getOrder(orderId))?.settlement
      if (!mine || !settlement) return undefined
      return {
        orderId: mine.orderId,
        settlement: settlementToWire(settlement),
        settlementHash: mine.settlementHash,
        signer: mine.signer,
        signature: mine.signature,
      }
    },
  }
}

export interface PeerRoutesOptions {
  relayerId: string
  identity: Ed25519Signer
  store: Store
  /** What is served; read from `store` when absent. */
  source?: PeerSource
  /** Co-signs the release message of an order's leg, after rebuilding it from this relayer's own settlement. */
  cosign?: (orderId: string, message: string, leg: ReleaseLeg) => Promise<SettlementSignature>
  /** Light relay retarget approvals: this relayer's own are served at /v1/peer/retarget. */
  retargets?: Pick<RetargetApprovals, 'get'>
}

/**
 * The peer half of the API: this relayer's verified heartbeats and its own
 * settlement signatures, each response sealed with its identity key, rate
 * limited per remote address.
 */
export function peerRoutes(o: PeerRoutesOptions): PeerHandler {
  const limiter = new RateLimiter(50, 200)
  const source = o.source ?? storePeerSource(o.store, o.relayerId)
  /** The transcript of one kept heartbeat's compute challenge: fetched one at a time, since one can be megabytes. */
  const serveTranscript = async (res: ServerResponse, url: URL): Promise<true> => {
    const orderId = url.searchParams.get('order') ?? ''
    const slot = Number(url.searchParams.get('slot') ?? '')
    const relayerId = url.searchParams.get('relayer') ?? ''
    if (
      !/^0x[0-9a-f]{64}$/.test(orderId) ||
      !Number.isSafeInteger(slot) ||
      slot < 0 ||
      !/^[a-z0-9][a-z0-9-]{0,62}$/.test(relayerId)
    ) {
      sendJson(res, 400, { error: 'MALFORMED' })
      return true
    }
    const transcript = await source.transcript(orderId, slot, relayerId)
    if (transcript === undefined) sendJson(res, 404, { error: 'NO_TRANSCRIPT' })
    else
      sendJson(
        res,
        200,
        undefined,
        canonicalJson(
          sealEnvelope('transcript', o.relayerId, o.identity, { orderId, slot, relayerId, transcript }),
        ),
      )
    return true
  }
  return async function handle(req, res, url) {
    if (req.method !== 'GET' || !url.pathname.startsWith('/v1/peer/')) return false
    if (!limiter.take(req.socket.remoteAddress ?? 'unknown')) {
      sendJson(res, 429, { error: 'RATE_LIMITED' })
      return true
    }
    if (url.pathname === '/v1/peer/heartbeats') {
      // With `order`, that order's heartbeats; without, the feed of every order's.
      const orderId = url.searchParams.get('order') ?? undefined
      const since = Number(url.searchParams.get('since') ?? '0')
      if (
        (orderId !== undefined && !/^0x[0-9a-f]{64}$/.test(orderId)) ||
        !Number.isSafeInteger(since) ||
        since < 0
      ) {
        sendJson(res, 400, { error: 'MALFORMED' })
        return true
      }
      const page = orderId === undefined ? await source.feed(since) : await source.heartbeats(orderId, since)
      sendJson(
        res,
        200,
        undefined,
        canonicalJson(
          sealEnvelope('heartbeats', o.relayerId, o.identity, {
            ...(orderId !== undefined ? { orderId } : {}),
            heartbeats: page.heartbeats.map((h) => h.heartbeat),
            transcripts: page.heartbeats.map((h) => h.transcript ?? null),
            cursor: page.cursor,
            more: page.more,
          }),
        ),
      )
      return true
    }
    if (url.pathname === '/v1/peer/transcript') return serveTranscript(res, url)
    const sig = /^\/v1\/peer\/signatures\/(0x[0-9a-f]{64})$/.exec(url.pathname)
    if (sig) {
      const body = await source.signature(sig[1]!)
      if (!body) sendJson(res, 404, { error: 'NOT_SIGNED_YET' })
      else
        sendJson(res, 200, undefined, canonicalJson(sealEnvelope('signature', o.relayerId, o.identity, body)))
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
      else
        sendJson(
          res,
          200,
          undefined,
          canonicalJson(
            sealEnvelope('retarget', o.relayerId, o.identity, {
              chain,
              epoch,
              headersHash: mine.headersHash,
              signer: mine.signer,
              signature: mine.signature,
            }),
          ),
        )
      return true
    }
    const cosign = /^\/v1\/peer\/cosign\/(0x[0-9a-f]{64})$/.exec(url.pathname)
    if (cosign && o.cosign) {
      const message = url.searchParams.get('message') ?? ''
      const leg = decodeLeg(url.searchParams.get('leg') ?? 'settlement')
      // A release message: a Solana transaction (at most 1232 bytes) or a Cosmos signing request (under 1 KB).
      if (!/^[A-Za-z0-9_-]{1,1700}$/.test(message) || !leg) {
        sendJson(res, 400, { error: 'MALFORMED' })
        return true
      }
      try {
        const sig = await o.cosign(cosign[1]!, Buffer.from(message, 'base64url').toString('base64'), leg)
        sendJson(
          res,
          200,
          undefined,
          canonicalJson(
            sealEnvelope('cosignature', o.relayerId, o.identity, {
              orderId: cosign[1]!,
              signer: sig.signer,
              signature: sig.signature,
            }),
          ),
        )
      } catch (err) {
        sendJson(res, 409, {
          error: isQantaraError(err) ? err.code : 'REFUSED',
          reason: isQantaraError(err, 'COSIGN_REFUSED')
            ? err.context.reason
            : isQantaraError(err)
              ? err.shortMessage
              : 'refused',
        })
      }
      return true
    }
    sendJson(res, 404, { error: 'NOT_FOUND' })
    return true
  }
}
