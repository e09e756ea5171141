import PQueue from 'p-queue'
import { randomInt } from 'node:crypto'
import { MAX_ATTEMPTS, isFinal, probeInstant } from './probeSlot.js'
import { probing } from '../orders/lifecycle.js'
import { isQantaraError } from '../errors.js'
import { ChallengeBook } from '../heartbeat/challenges.js'
import { canonicalJson } from '../canonicalJson.js'
import type { SignedHeartbeat } from '../heartbeat/schema.js'
import { verifyHeartbeat, type Rejection } from '../heartbeat/verify.js'
import { safeRequest, type SafeHttp, type SafeHttpOptions } from '../http/safeHttp.js'
import type { Ed25519Signer } from '../ed25519.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { OrderTerms } from '../order.js'
import { offerMismatch, type OfferMismatch } from '../registry/offers.js'
import type { ProviderRegistry } from '../registry/registry.js'
import { GroupCommit } from '../store/groupCommit.js'
import type { Store, StoredHeartbeat } from '../store/store.js'
import type { ComputeChallenges, ComputeResult } from './computeChallenge.js'

const LOST: ReadonlySet<ProbeResult> = new Set<ProbeResult>(['TIMEOUT', 'UNREACHABLE', 'REFUSED'])
/** Probe instants are kept in buckets of this width, one timer each: not a timer (and its terms) per order. */
const BUCKET_MS = 100

/** One slot's probe waiting for its instant: the order by id only, its terms read when it is sent. */
interface DueProbe {
  orderId: string
  slot: number
  slotEnd: number
  attempt: number
  signal: AbortSignal
}

export type ProbeResult =
  | 'OK'
  | Rejection
  | OfferMismatch
  | 'NO_PROVIDER_RECORD'
  | 'UNREACHABLE'
  | 'TIMEOUT'
  | 'REFUSED'
  | 'HTTP_ERROR'
  | 'DUPLICATE'
  /** Still queued when its slot ended (this relayer is behind): not sent, as no answer could count. */
  | 'SLOT_OVER'
  /** This relayer's store failed to read the order or keep the heartbeat: tried again while the slot has room. */
  | 'STORE_FAILED'
  | ComputeResult

export interface ProberOptions {
  relayerId: string
  identity: Ed25519Signer
  relayerKeys: ReadonlyMap<string, string>
  store: Store
  registry: ProviderRegistry
  http: SafeHttp
  httpOptions: SafeHttpOptions
  concurrency: number
  perHostConcurrency: number
  maxSkewMs: number
  metrics: Metrics
  logger: Logger
  /** Sends compute challenges in the slots it draws; absent, heartbeats only. */
  compute?: ComputeChallenges
  nowMs?: () => number
}

/** Codes with which an agent's answer to an earlier challenge of ours is refused by a book that no longer holds it. */
function earlierOwn(code: Rejection): boolean {
  return code === 'UNKNOWN_NONCE' || code === 'REPLAYED_NONCE'
}

/**
 * Challenges each active order's provider once per slot, at an instant drawn
 * at random inside the slot so a provider cannot be up only when it expects a
 * probe. Challenges are fresh, signed by this relayer, answerable once.
 */
export class Prober {
  private readonly queue: PQueue
  private readonly perHost = new Map<string, PQueue>()
  /** Order id → the end of the slot whose probe is scheduled; past slots are dropped as new ones are scheduled. */
  private readonly scheduled = new Map<string, number>()
  /** Bucket start (ms) → its timer and the probes due in it. */
  private readonly buckets = new Map<number, { timer: NodeJS.Timeout; due: DueProbe[] }>()
  private readonly book: ChallengeBook
  /** Heartbeats of probes that end together are kept in one transaction. */
  private readonly keep: GroupCommit<StoredHeartbeat, boolean>
  private readonly now: () => number

  constructor(private readonly o: ProberOptions) {
    this.queue = new PQueue({ concurrency: o.concurrency })
    this.now = o.nowMs ?? Date.now
    // A challenge is answered in the response to its own request, or, when that answer was lost, to the retry that
    // follows within a timeout or two (the agent answers a repeat with the heartbeat of the first). A plain
    // challenge's answer after that is still taken, as ownEarlier says; a compute challenge's is not.
    this.book = new ChallengeBook(o.relayerId, o.identity, Math.max(30_000, 4 * o.httpOptions.timeoutMs))
    this.keep = new GroupCommit((hs) => o.store.putHeartbeats(hs))
  }

  /** Schedules the probe of `order`'s current slot if it has none yet; returns the slot or undefined. */
  schedule(order: OrderTerms, signal: AbortSignal): number | undefined {
    const due = probeInstant(order, this.now())
    if (!due) return undefined
    if (this.scheduled.get(order.id) === due.slotEnd) return due.slot
    this.scheduled.set(order.id, due.slotEnd)
    this.arm({ orderId: order.id, slot: due.slot, slotEnd: due.slotEnd, attempt: 1, signal }, due.at)
    return due.slot
  }

  /** Puts a probe in the bucket of its instant (rounded up to the bucket's end), arming that bucket's timer. */
  private arm(probe: DueProbe, at: number): void {
    const bucket = Math.ceil(at / BUCKET_MS) * BUCKET_MS
    let b = this.buckets.get(bucket)
    if (!b) {
      const timer = setTimeout(() => this.fire(bucket), Math.max(0, bucket - this.now()))
      this.buckets.set(bucket, (b = { timer, due: [] }))
    }
    b.due.push(probe)
  }

  private fire(bucket: number): void {
    const b = this.buckets.get(bucket)
    this.buckets.delete(bucket)
    for (const probe of b?.due ?? [])
      if (!probe.signal.aborted)
        void this.queue
          .add(() => this.run(probe))
          .catch((err: unknown) => {
            this.o.logger.warn({ orderId: probe.orderId, slot: probe.slot, err }, 'probe failed to run')
          })
  }

  /**
   * Sends a scheduled probe if its order is still probing by the store (one
   * refunded or settled since is not). A failed challenge is retried once at
   * another random instant if the slot still has room for it, so one lost
   * packet does not cost the provider a slot.
   */
  private async run(probe: DueProbe): Promise<void> {
    if (probe.signal.aborted) return
    let result: ProbeResult
    try {
      const record = await this.o.store.getOrder(probe.orderId)
      if (!record || !probing(record, this.now() / 1000)) return
      result = await this.probeOnce(record.terms, probe.slot, probe.signal)
    } catch (err) {
      // The store failed to read or keep: the slot is tried again while it has room, as for a lost answer.
      this.o.logger.warn({ orderId: probe.orderId, slot: probe.slot, err }, 'probe failed; trying again')
      result = 'STORE_FAILED'
      this.o.metrics.probes.inc({ result })
    }
    const room = probe.slotEnd - this.now() - this.o.httpOptions.timeoutMs
    if (!isFinal(result) && probe.attempt < MAX_ATTEMPTS && room > 0 && !probe.signal.aborted)
      this.arm(
        { ...probe, attempt: probe.attempt + 1 },
        this.now() + randomInt(0, Math.max(1, Math.floor(room))),
      )
  }

  /** Challenges the provider of `order` for `slot` now; stores the heartbeat if it verifies. */
  async probeOnce(order: OrderTerms, slot: number, signal?: AbortSignal): Promise<ProbeResult> {
    const result = await this.challenge(order, slot, signal)
    this.o.metrics.probes.inc({ result })
    if (result !== 'OK') this.o.logger.debug({ orderId: order.id, slot, result }, 'probe failed')
    return result
  }

  /**
   * The slot's heartbeat first, to a challenge that looks the same in every
   * slot; then, in a slot the quorum checks, the compute challenge, which
   * names that heartbeat. A provider learns a slot is checked only once it is
   * on record as there, so going dark for checks buys it nothing.
   */
  private async challenge(order: OrderTerms, slot: number, signal?: AbortSignal): Promise<ProbeResult> {
    const record = await this.o.registry.get(order.providerId)
    if (!record) return 'NO_PROVIDER_RECORD'
    // Only what the provider signed up for is measured: a slot of an order it never offered is not up.
    const mismatch = offerMismatch(record, order)
    if (mismatch) return mismatch
    const n = this.o.compute?.sizeFor(order, slot)
    const presence = await this.heartbeat(record.url, order, slot, undefined, signal, n !== undefined)
    if (typeof presence === 'string' || n === undefined) return typeof presence === 'string' ? presence : 'OK'
    const compute = { n, count: order.gpu.count, follows: presence.heartbeat.signature }
    let checked = await this.heartbeat(record.url, order, slot, compute, signal)
    // Once more on a lost answer: the agent answers a repeat with the heartbeat of the first, timed from its issue.
    if (typeof checked === 'string' && LOST.has(checked))
      checked = await this.heartbeat(record.url, order, slot, compute, signal)
    // Whatever went wrong, the check is over: the record is the plain heartbeat, which settlement reads as unanswered.
    if (typeof checked === 'string') {
      this.o.logger.info({ orderId: order.id, slot, result: checked }, 'compute challenge not answered')
      return 'COMPUTE_UNANSWERED'
    }
    // Timed from when the challenge was issued, not from this attempt (an answer from the agent's cache must not turn a
    // late commitment into a prompt one), to when its answer arrived, not to when this loop got round to it.
    return this.o.compute!.complete(
      order,
      record.url,
      checked.heartbeat,
      checked.arrivedAt - checked.heartbeat.heartbeat.challenge.challenge.issuedAt,
      signal,
    )
  }

  /**
   * One challenge and its heartbeat, verified and kept. `followed`: a compute
   * check follows, which needs the slot's heartbeat even if it was kept before.
   */
  private async heartbeat(
    agentUrl: string,
    order: OrderTerms,
    slot: number,
    compute: { n: number; count: number; follows: string } | undefined,
    signal?: AbortSignal,
    followed = false,
  ): Promise<{ heartbeat: SignedHeartbeat; arrivedAt: number } | ProbeResult> {
    const res = await this.send(agentUrl, order, slot, compute, signal)
    if (typeof res === 'string') return res
    const arrivedAt = this.now()
    let verdict = verifyHeartbeat(res.body, {
      // The provider's clock is held to our challenge's time, as in gossip: a retry may be answered with the heartbeat
      // signed for our first challenge of the slot (the agent signs one per slot), whose answer was lost.
      order,
      slot,
      relayerKeys: this.o.relayerKeys,
      skewMs: this.o.maxSkewMs,
      own: {
        relayerId: this.o.relayerId,
        issued: (salt, sig) => this.book.issued(salt, sig),
        consume: (salt, orderId, s) => this.book.consume(salt, orderId, s),
      },
    })
    const resumed = !verdict.ok && !compute && earlierOwn(verdict.code)
    if (resumed) verdict = this.ownEarlier(res.body, order, slot)
    if (!verdict.ok) {
      this.o.logger.warn(
        { orderId: order.id, slot, code: verdict.code, detail: verdict.detail },
        'heartbeat rejected',
      )
      return verdict.code
    }
    if (compute && verdict.heartbeat.heartbeat.challenge.challenge.compute?.follows !== compute.follows)
      return 'MALFORMED'
    const stored = await this.keep.submit({
      orderId: order.id,
      slot,
      relayerId: this.o.relayerId,
      body: canonicalJson(verdict.heartbeat),
      receivedAt: arrivedAt,
    })
    return stored || (resumed && followed) ? { heartbeat: verdict.heartbeat, arrivedAt } : 'DUPLICATE'
  }

  /**
   * The slot's heartbeat to a plain challenge this relayer sent earlier in
   * the slot, which its book no longer holds (the answer was lost and the
   * retry came later, or the relayer restarted) or whose answer it already
   * used: the agent answers a new challenge of the slot with it. Signed by our
   * key for this slot, it proves the provider was there as well as a fresh
   * one would: kept if it is not yet, and a slot's check can follow it.
   */
  private ownEarlier(body: string, order: OrderTerms, slot: number): ReturnType<typeof verifyHeartbeat> {
    const verdict = verifyHeartbeat(body, {
      order,
      slot,
      relayerKeys: this.o.relayerKeys,
      skewMs: this.o.maxSkewMs,
    })
    if (!verdict.ok) return verdict
    const { challenge } = verdict.heartbeat.heartbeat.challenge
    return challenge.relayerId === this.o.relayerId && !challenge.compute
      ? verdict
      : { ok: false, code: 'UNKNOWN_NONCE', detail: 'not a challenge this relayer issued' }
  }

  /** Sends a fresh challenge once this agent's host has room, so its time of issue is when it leaves. */
  private async send(
    agentUrl: string,
    order: OrderTerms,
    slot: number,
    compute: { n: number; count: number; follows: string } | undefined,
    signal?: AbortSignal,
  ): Promise<{ status: number; body: string } | ProbeResult> {
    const url = `${agentUrl.replace(/\/+$/, '')}/v1/heartbeat`
    const host = new URL(url).host
    let hostQueue = this.perHost.get(host)
    if (!hostQueue)
      this.perHost.set(host, (hostQueue = new PQueue({ concurrency: this.o.perHostConcurrency })))
    try {
      const slotEnd = (Number(order.start) + (slot + 1) * order.slotLength) * 1000
      const res = await hostQueue.add((): Promise<{ status: number; body: string } | 'SLOT_OVER'> =>
        // Shed, not sent late: a relayer behind its probes catches up instead of spending itself on dead slots.
        this.now() >= slotEnd
          ? Promise.resolve('SLOT_OVER')
          : safeRequest(this.o.http, this.o.httpOptions, {
              method: 'POST',
              url,
              body: canonicalJson(this.book.issue(order.id, slot, this.now(), compute)),
              signal,
            }),
      )
      if (res === 'SLOT_OVER') return res
      return res.status === 200 ? res : 'HTTP_ERROR'
    } catch (err) {
      if (isQantaraError(err, 'ENDPOINT_TIMEOUT')) return 'TIMEOUT'
      if (isQantaraError(err, 'ENDPOINT_REFUSED')) return 'REFUSED'
      if (isQantaraError(err, 'RESPONSE_TOO_LARGE')) return 'TOO_LARGE'
      this.o.logger.debug({ url, err }, 'agent unreachable')
      return 'UNREACHABLE'
    }
  }

  /** Forgets slots that have ended; called once per scheduling pass. */
  prune(): void {
    const now = this.now()
    for (const [id, slotEnd] of this.scheduled) if (slotEnd < now) this.scheduled.delete(id)
  }

  async drain(): Promise<void> {
    for (const { timer } of this.buckets.values()) clearTimeout(timer)
    this.buckets.clear()
    await this.queue.onIdle()
  }
}
