import type { AxiosInstance } from 'axios'
import { z } from 'zod'
import { canonicalJson } from '../canonicalJson.js'
import { merkleLeafHash } from '../merkle.js'
import type { SettlementSignature } from '../chains.js'
import { QantaraError } from '../errors.js'
import { verifyHeartbeat } from '../heartbeat/verify.js'
import { safeRequest, type SafeHttpOptions } from '../http/safeHttp.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { OrderTerms } from '../order.js'
import type { Settlement } from '../settlement.js'
import { settlementHash, settlementToWire } from '../settlementWire.js'
import type { RetargetApproval } from '../relay/retargetApprovals.js'
import type { Store } from '../store/store.js'
import { openEnvelope } from './envelope.js'

const MAX_PAGES = 50
/** Invalid heartbeats a peer may serve in a minute, over all orders, before it is benched for BENCH_MS. */
const MAX_INVALID_PER_MINUTE = 16
const BENCH_MS = 60_000
const heartbeatPage = z.object({ orderId: z.string(), heartbeats: z.array(z.unknown()).max(1_000), cursor: z.number().int().nonnegative(), more: z.boolean() })
const providerList = z.object({ providers: z.array(z.unknown()).max(1_000), next: z.string().regex(/^0x[0-9a-f]{64}$/).nullable().optional() })
/** Pages of a peer's provider list read per pull (1,000 records each). */
const MAX_PROVIDER_PAGES = 20
/** Records new to us taken from one peer per pull. */
const MAX_NEW_RECORDS_PER_PULL = 100
const cosignatureBody = z.object({ orderId: z.string(), signer: z.string().max(128), signature: z.string().max(512) })
const signatureBody = z.object({ orderId: z.string(), settlement: z.unknown(), settlementHash: z.string(), signer: z.string().max(128), signature: z.string().max(512) })
const retargetBody = z.object({ chain: z.string(), epoch: z.string(), headersHash: z.string(), signer: z.string().max(128), signature: z.string().max(512) })

export interface Peer {
  id: string
  url: string
}

export interface GossipOptions {
  selfId: string
  peers: Peer[]
  relayerKeys: ReadonlyMap<string, string>
  store: Store
  http: AxiosInstance
  httpOptions: SafeHttpOptions
  skewMs: number
  metrics: Metrics
  logger: Logger
}

/**
 * Pulls what peers hold: their verified heartbeats, each verified again here
 * (provider signature, and a challenge really signed by the relayer it names),
 * and their signatures over an order's settlement, kept only when they are
 * over the same settlement bytes as ours.
 */
export class Gossip {
  private readonly cursors = new Map<string, number>()
  private readonly benchedUntil = new Map<string, number>()
  private readonly invalid = new Map<string, { since: number; count: number }>()

  constructor(private readonly o: GossipOptions) {}

  get peers(): Peer[] {
    return this.o.peers
  }

  async pullHeartbeats(order: OrderTerms, signal?: AbortSignal): Promise<number> {
    const now = Date.now()
    const counts = await Promise.all(this.o.peers.filter((p) => (this.benchedUntil.get(p.id) ?? 0) <= now).map((p) => this.pullHeartbeatsFrom(p, order, signal).catch((err: unknown) => {
      this.o.logger.debug({ peer: p.id, orderId: order.id, err }, 'peer heartbeats unavailable')
      return 0
    })))
    return counts.reduce((a, b) => a + b, 0)
  }

  /** Counts one invalid item from `peer`; true when that benches it (more than MAX_INVALID_PER_MINUTE in the current minute). */
  private spendInvalid(peerId: string): boolean {
    const now = Date.now()
    const spent = this.invalid.get(peerId)
    const window = spent && now - spent.since < 60_000 ? spent : { since: now, count: 0 }
    window.count++
    this.invalid.set(peerId, window)
    if (window.count <= MAX_INVALID_PER_MINUTE) return false
    this.benchedUntil.set(peerId, now + BENCH_MS)
    this.invalid.delete(peerId)
    return true
  }

  /** Drops the gossip cursors of an order that reached a final state. */
  forget(orderId: string): void {
    for (const p of this.o.peers) this.cursors.delete(`${p.id}:${orderId}`)
  }

  private async pullHeartbeatsFrom(peer: Peer, order: OrderTerms, signal?: AbortSignal): Promise<number> {
    // Each pull asks only for what the peer kept since the last one; after a restart the first pull takes the whole set once.
    const key = `${peer.id}:${order.id}`
    let stored = 0
    let held: Map<string, string> | undefined
    // A peer holds at most one heartbeat per slot and witness, each replaced now and then: more than twice that in one
    // pull is a peer making us hash what it repeats.
    let budget = 2 * order.slots * this.o.relayerKeys.size
    for (let page = 0; page < MAX_PAGES; page++) {
      const since = this.cursors.get(key) ?? 0
      const res = await safeRequest(this.o.http, this.o.httpOptions, { method: 'GET', url: `${peer.url}/v1/peer/heartbeats?order=${order.id}&since=${since}`, signal })
      if (res.status !== 200) return stored
      const body = heartbeatPage.safeParse(openEnvelope('heartbeats', JSON.parse(res.body), peer.id, this.o.relayerKeys, 5 * 60_000))
      // Cursors are the peer's keeping order, one per row: a page of n rows moves it by n at least, and "more" needs a page.
      const n = body.success ? body.data.heartbeats.length : 0
      if (!body.success || body.data.orderId !== order.id || body.data.cursor < since + n || (body.data.more && n === 0)) {
        this.o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BAD_ENVELOPE' })
        return stored
      }
      if ((budget -= n) < 0) {
        this.o.metrics.peerRejections.inc({ peer: peer.id, reason: 'TOO_MANY_HEARTBEATS' })
        return stored
      }
      // What we already hold, or a heartbeat for the same witness that would not replace ours (a higher leaf hash),
      // is not verified again; read only when a page brings something.
      if (!held && body.data.heartbeats.length) held = new Map((await this.o.store.listHeartbeatKeys(order.id)).map((h) => [`${h.slot}:${h.relayerId}`, h.leafHash]))
      for (const raw of body.data.heartbeats) {
        const c = (raw as { heartbeat?: { challenge?: { challenge?: { slot?: unknown; relayerId?: unknown } } } } | null)?.heartbeat?.challenge?.challenge
        const text = canonicalJsonOrUndefined(raw)
        const kept = held!.get(`${String(c?.slot)}:${String(c?.relayerId)}`)
        if (text !== undefined && kept !== undefined && merkleLeafHash(text) >= kept) continue
        const verdict = text === undefined ? { ok: false as const, code: 'MALFORMED' as const } : verifyHeartbeat(text, { order, relayerKeys: this.o.relayerKeys, skewMs: this.o.skewMs })
        if (!verdict.ok) {
          this.o.metrics.peerRejections.inc({ peer: peer.id, reason: verdict.code })
          // An honest peer serves only heartbeats it verified; one that serves junk costs us signature checks, so past a
          // budget per minute, counted over all orders, it is cut off for a while.
          if (this.spendInvalid(peer.id)) {
            this.o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BENCHED' })
            this.o.logger.warn({ peer: peer.id, orderId: order.id }, 'peer served too many invalid heartbeats; not pulling from it for a while')
            return stored
          }
          continue
        }
        const { challenge } = verdict.heartbeat.heartbeat.challenge
        const canonical = canonicalJson(verdict.heartbeat)
        held!.set(`${challenge.slot}:${challenge.relayerId}`, merkleLeafHash(canonical))
        if (await this.o.store.putHeartbeat({ orderId: order.id, slot: challenge.slot, relayerId: challenge.relayerId, body: canonical, receivedAt: Date.now() })) stored++
      }
      // Advanced only after the page is processed, so a crash or abort mid-page asks for it again.
      this.cursors.set(key, body.data.cursor)
      if (!body.data.more) return stored
    }
    return stored
  }

  /**
   * Copies the provider records peers know into our registry. Each goes
   * through `submit`, so it is checked against its own URL here as well:
   * a peer cannot vouch for a record, only point us at it.
   */
  async pullProviders(submit: (record: unknown) => Promise<unknown>, known: (providerId: string, seq: number) => Promise<boolean>, signal?: AbortSignal): Promise<number> {
    let added = 0
    for (const peer of this.o.peers) {
      try {
        added += await this.pullProvidersFrom(peer, submit, known, signal)
      } catch (err) {
        this.o.logger.debug({ peer: peer.id, err }, 'peer provider list unavailable')
      }
    }
    return added
  }

  /** Reads a peer's provider list page by page (at most MAX_PROVIDER_PAGES), submitting each record we lack. */
  private async pullProvidersFrom(peer: Peer, submit: (record: unknown) => Promise<unknown>, known: (providerId: string, seq: number) => Promise<boolean>, signal?: AbortSignal): Promise<number> {
    let added = 0
    let tried = 0
    let cursor: string | undefined
    for (let page = 0; page < MAX_PROVIDER_PAGES; page++) {
      const res = await safeRequest(this.o.http, this.o.httpOptions, { method: 'GET', url: `${peer.url}/v1/providers?limit=1000${cursor ? `&cursor=${cursor}` : ''}`, signal })
      if (res.status !== 200) return added
      const list = providerList.safeParse(JSON.parse(res.body))
      if (!list.success) {
        this.o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BAD_PROVIDER_LIST' })
        return added
      }
      for (const signed of list.data.providers) {
        const r = (signed as { record?: { providerId?: unknown; seq?: unknown } }).record
        if (typeof r?.providerId !== 'string' || typeof r.seq !== 'number' || (await known(r.providerId, r.seq))) continue
        // Each record we lack costs a fetch of its provider's URL: a peer gets a bounded number per pull.
        if (++tried > MAX_NEW_RECORDS_PER_PULL) return added
        try {
          await submit(signed)
          added++
        } catch (err) {
          this.o.metrics.peerRejections.inc({ peer: peer.id, reason: 'PROVIDER_RECORD' })
          this.o.logger.debug({ peer: peer.id, providerId: r.providerId, err }, 'replicated provider record refused')
        }
      }
      // A cursor that does not move forward would loop us over the same page.
      if (!list.data.next || (cursor !== undefined && list.data.next <= cursor)) return added
      cursor = list.data.next
    }
    return added
  }

  /**
   * Asks one peer to co-sign a release message for `orderId`. The peer signs
   * only the release it rebuilds from its own settlement; the caller checks
   * the signature against the peer's chain key.
   */
  async requestCosignature(peerId: string, orderId: string, message: string, signal?: AbortSignal): Promise<SettlementSignature> {
    const peer = this.o.peers.find((p) => p.id === peerId)
    if (!peer) throw new QantaraError('SUBMIT_FAILED', `no peer ${peerId} to co-sign with`, { retryable: true })
    const res = await safeRequest(this.o.http, this.o.httpOptions, { method: 'GET', url: `${peer.url}/v1/peer/cosign/${orderId}?message=${Buffer.from(message, 'base64').toString('base64url')}`, signal })
    if (res.status !== 200) throw new QantaraError('SUBMIT_FAILED', `${peerId} did not co-sign the release of ${orderId}: HTTP ${res.status} ${res.body.slice(0, 200)}`, { retryable: true })
    const body = cosignatureBody.safeParse(openEnvelope('cosignature', JSON.parse(res.body), peer.id, this.o.relayerKeys, 5 * 60_000))
    if (!body.success || body.data.orderId !== orderId) {
      this.o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BAD_ENVELOPE' })
      throw new QantaraError('SUBMIT_FAILED', `${peerId} answered the co-signing of ${orderId} with a bad envelope`, { retryable: true })
    }
    return { signer: body.data.signer, signature: body.data.signature }
  }

  /**
   * Collects peers' signatures over `settlement`. `verify` checks a signature
   * on the escrow chain's terms (the right key for that peer, over these bytes).
   */
  async pullSignatures(order: OrderTerms, settlement: Settlement, verify: (peerId: string, sig: SettlementSignature) => Promise<boolean>, signal?: AbortSignal): Promise<void> {
    const ours = settlementHash(settlement)
    const held = new Map((await this.o.store.listSignatures(order.id)).map((s) => [s.relayerId, s]))
    // Every peer is asked every round: one may have recomputed since, away from our settlement or onto it.
    await Promise.all(this.o.peers.map(async (peer) => {
      try {
        const res = await safeRequest(this.o.http, this.o.httpOptions, { method: 'GET', url: `${peer.url}/v1/peer/signatures/${order.id}`, signal })
        if (res.status !== 200) return
        const body = signatureBody.safeParse(openEnvelope('signature', JSON.parse(res.body), peer.id, this.o.relayerKeys, 5 * 60_000))
        if (!body.success || body.data.orderId !== order.id) {
          this.o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BAD_ENVELOPE' })
          return
        }
        if (body.data.settlementHash !== ours) {
          // What it signed before, if it was ours, no longer stands: it is not counted towards a quorum.
          if (held.has(peer.id)) await this.o.store.deleteSignature(order.id, peer.id)
          this.o.metrics.settlementDisagreements.inc({ peer: peer.id })
          this.o.logger.debug({ orderId: order.id, peer: peer.id, ours: settlementToWire(settlement), theirs: body.data.settlement }, 'peer signed a different settlement; not counting it')
          return
        }
        const kept = held.get(peer.id)
        if (kept?.settlementHash === ours && kept.signature === body.data.signature) return
        const sig = { signer: body.data.signer, signature: body.data.signature }
        if (!(await verify(peer.id, sig))) {
          this.o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BAD_SETTLEMENT_SIGNATURE' })
          return
        }
        await this.o.store.putSignature({ orderId: order.id, relayerId: peer.id, settlementHash: ours, ...sig, receivedAt: Date.now() })
      } catch (err) {
        this.o.logger.debug({ peer: peer.id, orderId: order.id, err }, 'peer signature unavailable')
      }
    }))
  }

  /**
   * Collects peers' approvals of the retarget out of `epoch` on `chain` with
   * the headers hashing to `headersHash`, from the peers not in `have`.
   * `verify` checks one on the chain's terms (that peer's key, over our headers).
   */
  async pullRetargetApprovals(chain: string, epoch: bigint, headersHash: string, have: ReadonlySet<string>, verify: (peerId: string, sig: SettlementSignature) => Promise<boolean>, signal?: AbortSignal): Promise<RetargetApproval[]> {
    const found = await Promise.all(this.o.peers.filter((p) => !have.has(p.id)).map(async (peer): Promise<RetargetApproval | undefined> => {
      try {
        const res = await safeRequest(this.o.http, this.o.httpOptions, { method: 'GET', url: `${peer.url}/v1/peer/retarget?chain=${encodeURIComponent(chain)}&epoch=${epoch}`, signal })
        if (res.status !== 200) return undefined
        const body = retargetBody.safeParse(openEnvelope('retarget', JSON.parse(res.body), peer.id, this.o.relayerKeys, 5 * 60_000))
        if (!body.success || body.data.chain !== chain || body.data.epoch !== epoch.toString()) {
          this.o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BAD_ENVELOPE' })
          return undefined
        }
        if (body.data.headersHash !== headersHash) {
          this.o.metrics.peerRejections.inc({ peer: peer.id, reason: 'RETARGET_HEADERS_DIFFER' })
          this.o.logger.warn({ chain, epoch: epoch.toString(), peer: peer.id, ours: headersHash, theirs: body.data.headersHash }, 'peer approved other retarget headers; not counting it')
          return undefined
        }
        const sig = { signer: body.data.signer, signature: body.data.signature }
        if (!(await verify(peer.id, sig))) {
          this.o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BAD_RETARGET_APPROVAL' })
          return undefined
        }
        return { relayerId: peer.id, headersHash, ...sig }
      } catch (err) {
        this.o.logger.debug({ peer: peer.id, chain, epoch: epoch.toString(), err }, 'peer retarget approval unavailable')
        return undefined
      }
    }))
    return found.filter((a) => a !== undefined)
  }
}

/** A peer's item as canonical JSON, or undefined when it cannot be (floats, cycles): such an item is junk. */
function canonicalJsonOrUndefined(raw: unknown): string | undefined {
  try {
    return canonicalJson(raw)
  } catch {
    return undefined
  }
}
