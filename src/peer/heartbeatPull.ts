import { z } from 'zod'
import { canonicalJson } from '../canonicalJson.js'
import { storedFacts } from '../heartbeat/storedFacts.js'
import type { OrderTerms } from '../order.js'
import { isTerminal } from '../orders/lifecycle.js'
import { checkPeerHeartbeat, claimedOrderId, type Checked, type Held } from './heartbeatCheck.js'
import { getSealed, type GossipOptions, type Peer } from './peerClient.js'
import { PeerBench } from './peerBench.js'
import { pullTranscript } from './transcriptPull.js'
import { VERDICT_RANK, type ComputeVerdict } from '../gpu/transcript.js'
import type { SignedHeartbeat } from '../heartbeat/schema.js'

const MAX_PAGES = 50
const MAX_REFUTED = 100_000
const heartbeatPage = z.object({
  /** The order of a per-order page; absent on the feed. */
  orderId: z.string().optional(),
  heartbeats: z.array(z.unknown()).max(1_000),
  /** Per heartbeat: the verdict of the compute challenge transcript the peer holds for it, or null. */
  transcripts: z
    .array(z.enum(['passed', 'failed']).nullable())
    .max(1_000)
    .optional(),
  cursor: z.number().int().nonnegative(),
  more: z.boolean(),
})
type HeartbeatPage = z.infer<typeof heartbeatPage>
/**
 * What a record's verdict proves about its slot: a failure whatever its
 * telemetry; a pass only for records with the same telemetry (settlement
 * counts a pass only where the telemetry matches the order's GPUs).
 */
function proofKey(verdict: ComputeVerdict, gpus: string): string {
  return verdict === 'passed' ? `passed:${gpus}` : verdict
}

/** One order's part of one pull from one peer: what is held, what was checked, how much more the peer may send. */
interface OrderPull {
  order: OrderTerms
  held?: Map<string, Held>
  verdicts: Map<string, ComputeVerdict>
  /** Per slot, the proofs some record of it holds (see `proofKey`). */
  bySlot: Map<number, Set<string>>
  checked: Set<string>
  budget: number
  stored: number
}

/**
 * Pulls peers' verified heartbeats of an order, each verified again here
 * (provider signature, and a challenge really signed by the relayer it
 * names), from a cursor per peer and order. A peer is held to budgets: at
 * most twice the order's slots × witnesses per pull, and a bounded number of
 * invalid heartbeats a minute before it is benched.
 */
export class HeartbeatPull {
  private readonly cursors = new Map<string, number>()
  private readonly bench = new PeerBench()
  /** Peers' verdict claims a transcript refuted (peer, order, slot, relayer, verdict), oldest dropped first. */
  private readonly refuted = new Set<string>()

  constructor(private readonly o: GossipOptions) {}

  async pull(order: OrderTerms, signal?: AbortSignal): Promise<number> {
    const active = this.o.peers.filter((p) => !this.bench.benched(p.id))
    const counts = await Promise.all(
      active.map((p) =>
        this.pullFrom(p, order, signal).catch((err: unknown) => {
          this.o.logger.debug({ peer: p.id, orderId: order.id, err }, 'peer heartbeats unavailable')
          return 0
        }),
      ),
    )
    return counts.reduce((a, b) => a + b, 0)
  }

  /** One pull of a peer's feed (see `feedFrom`); nothing while the peer is benched. */
  async pullFeed(peer: Peer, signal?: AbortSignal): Promise<number> {
    if (this.bench.benched(peer.id)) return 0
    return this.feedFrom(peer, signal).catch((err: unknown) => {
      this.o.logger.debug({ peer: peer.id, err }, 'peer heartbeat feed unavailable')
      return 0
    })
  }

  /** Drops the cursors of an order that reached a final state. */
  forget(orderId: string): void {
    for (const p of this.o.peers) this.cursors.delete(`${p.id}:${orderId}`)
  }

  private async pullFrom(peer: Peer, order: OrderTerms, signal?: AbortSignal): Promise<number> {
    // Each pull asks only for what the peer kept since the last one; after a restart the first pull takes the whole set once.
    const key = `${peer.id}:${order.id}`
    const pull = this.orderPull(order)
    for (let page = 0; page < MAX_PAGES; page++) {
      const since = this.cursors.get(key) ?? 0
      const answer = await getSealed(
        this.o,
        peer,
        `/v1/peer/heartbeats?order=${order.id}&since=${since}`,
        'heartbeats',
        heartbeatPage,
        signal,
      )
      if (answer.status !== 'ok') return pull.stored
      const body = answer.body
      if (!this.pageFits(peer, order.id, body, since)) return pull.stored
      if ((await this.absorb(peer, pull, body.heartbeats, body.transcripts, signal)) !== 'ok')
        return pull.stored
      // Advanced only after the page is processed, so a crash or abort mid-page asks for it again.
      this.cursors.set(key, body.cursor)
      if (!body.more) return pull.stored
    }
    return pull.stored
  }

  /**
   * One pull of a peer's feed, every order's heartbeats after one cursor
   * (kept in the store, so a restart resumes it): traffic grows with new
   * heartbeats, not with orders × peers. Heartbeats of orders this relayer
   * does not hold (yet) are passed over; its last pull of an order before
   * settling asks the peer for that order alone.
   */
  private async feedFrom(peer: Peer, signal?: AbortSignal): Promise<number> {
    const key = `gossip-feed:${peer.id}`
    const pulls = new Map<string, OrderPull | null>()
    let stored = 0
    for (let page = 0; page < MAX_PAGES; page++) {
      const since = await this.o.store.getCursor(key)
      const answer = await getSealed(
        this.o,
        peer,
        `/v1/peer/heartbeats?since=${since}`,
        'heartbeats',
        heartbeatPage,
        signal,
      )
      if (answer.status !== 'ok') return stored
      const body = answer.body
      if (!this.pageFits(peer, undefined, body, since)) return stored
      const groups = new Map<string, { items: unknown[]; transcripts: ('passed' | 'failed' | null)[] }>()
      body.heartbeats.forEach((raw, i) => {
        const orderId = claimedOrderId(raw)
        if (!orderId) return
        let group = groups.get(orderId)
        if (!group) groups.set(orderId, (group = { items: [], transcripts: [] }))
        group.items.push(raw)
        group.transcripts.push(body.transcripts?.[i] ?? null)
      })
      for (const [orderId, group] of groups) {
        if (!pulls.has(orderId)) {
          const record = await this.o.store.getOrder(orderId)
          pulls.set(orderId, record && !isTerminal(record.state) ? this.orderPull(record.terms) : null)
        }
        const pull = pulls.get(orderId)
        if (!pull) continue
        const before = pull.stored
        const outcome = await this.absorb(peer, pull, group.items, group.transcripts, signal)
        stored += pull.stored - before
        // Over an order's budget, or benched: the page is refused and the cursor stays, so only this peer's feed stalls.
        if (outcome !== 'ok') return stored
      }
      await this.o.store.setCursor(key, body.cursor)
      if (!body.more) return stored
    }
    return stored
  }

  private orderPull(order: OrderTerms): OrderPull {
    return {
      order,
      verdicts: new Map(),
      bySlot: new Map(),
      checked: new Set(),
      // A peer holds at most one heartbeat per slot and witness, each replaced now and then: more than twice that in
      // one pull is a peer making us hash what it repeats.
      budget: 2 * order.slots * this.o.relayerKeys.size,
      stored: 0,
    }
  }

  /** Verifies and keeps one page's heartbeats of one order, and checks the transcripts their verdicts claim. */
  private async absorb(
    peer: Peer,
    pull: OrderPull,
    items: unknown[],
    transcripts: readonly ('passed' | 'failed' | null)[] | undefined,
    signal?: AbortSignal,
  ): Promise<'ok' | 'stop' | 'benched'> {
    const { order } = pull
    if ((pull.budget -= items.length) < 0) {
      this.o.metrics.peerRejections.inc({ peer: peer.id, reason: 'TOO_MANY_HEARTBEATS' })
      return 'stop'
    }
    const hold = (slot: number, proof: string) => {
      let held = pull.bySlot.get(slot)
      if (!held) pull.bySlot.set(slot, (held = new Set()))
      held.add(proof)
    }
    // What we already hold, or a heartbeat for the same witness that would not replace ours (see `outranks`), is not
    // verified again; read only when a page brings something.
    if (!pull.held && items.length) {
      const keys = await this.o.store.listHeartbeatKeys(order.id)
      pull.held = new Map(
        keys.map((h) => [`${h.slot}:${h.relayerId}`, { leafHash: h.leafHash, compute: h.compute }]),
      )
      for (const h of keys) {
        pull.verdicts.set(`${h.slot}:${h.relayerId}`, h.compute ?? 'unanswered')
        if (h.compute) hold(h.slot, proofKey(h.compute, JSON.stringify(h.gpus)))
      }
    }
    // Verified first, then kept in one write (a transaction per heartbeat capped what one peer's feed could bring).
    const checked: Checked[] = []
    for (const raw of items) {
      const check = this.check(peer, order, raw, pull.held!)
      if (check === 'benched') break
      checked.push(check)
    }
    const fresh = checked.filter((c) => c.fresh)
    const kept = await this.o.store.putHeartbeats(
      fresh.map((c) => {
        const { slot, relayerId } = c.heartbeat!.heartbeat.challenge.challenge
        return { orderId: order.id, slot, relayerId, body: c.fresh!, receivedAt: Date.now() }
      }),
    )
    fresh.forEach((c, i) => {
      if (kept[i]) pull.stored++
      else delete c.heartbeat
    })
    if (checked.length < items.length) return 'benched'
    for (const [i, { heartbeat, fresh: isNew }] of checked.entries()) {
      const stored = isNew !== undefined && heartbeat !== undefined
      const claimed = transcripts?.[i]
      if (!heartbeat || !claimed) continue
      // Checked only when it would raise what we hold (a stored heartbeat starts unanswered), once per record a pull.
      const { slot, relayerId } = heartbeat.heartbeat.challenge.challenge
      const at = `${slot}:${relayerId}`
      const heldRank = stored ? 0 : VERDICT_RANK[pull.verdicts.get(at) ?? 'unanswered']
      if (VERDICT_RANK[claimed] <= heldRank || pull.checked.has(at)) continue
      // A slot's status reads whether any record failed, or any record whose telemetry matches passed, never how many:
      // a second such proof costs a full check and changes nothing, so only the first is fetched.
      const proof = proofKey(claimed, storedFacts(canonicalJson(heartbeat)).gpus)
      if (pull.bySlot.get(slot)?.has(proof)) continue
      pull.checked.add(at)
      if (!(await this.transcript(peer, order, heartbeat, claimed, signal))) return 'benched'
      pull.verdicts.set(at, claimed)
      hold(slot, proof)
    }
    return 'ok'
  }

  /** Cursors are the peer's keeping order, one per row: a page of n rows moves it by n at least, and "more" needs a page. */
  private pageFits(peer: Peer, orderId: string | undefined, body: HeartbeatPage, since: number): boolean {
    const n = body.heartbeats.length
    if (body.orderId === orderId && body.cursor >= since + n && !(body.more && n === 0)) return true
    this.o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BAD_ENVELOPE' })
    return false
  }

  /** Pulls a flagged heartbeat's transcript; false when that benched the peer. */
  private async transcript(
    peer: Peer,
    order: OrderTerms,
    heartbeat: SignedHeartbeat,
    claimed: 'passed' | 'failed',
    signal?: AbortSignal,
  ): Promise<boolean> {
    const { slot, relayerId, compute } = heartbeat.heartbeat.challenge.challenge
    // A claim a transcript once refuted is not checked again: each check is seconds of CPU at a production size.
    const claim = `${peer.id}:${order.id}:${slot}:${relayerId}:${claimed}`
    if (this.refuted.has(claim)) return true
    if ((await pullTranscript(this.o, peer, order, heartbeat, claimed, signal)) !== 'junk') return true
    this.refuted.add(claim)
    if (this.refuted.size > MAX_REFUTED) this.refuted.delete(this.refuted.values().next().value!)
    this.o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BAD_TRANSCRIPT' })
    // Weighed by the products it made us check, so a peer cannot stay under the bench with a few costly ones.
    if (!this.bench.spendInvalid(peer.id, compute?.count ?? 1)) return true
    this.o.logger.warn({ peer: peer.id, orderId: order.id }, 'peer served too many invalid transcripts')
    return false
  }

  /** `checkPeerHeartbeat`, with a refusal counted against the peer: past its budget of junk, it is benched. */
  private check(peer: Peer, order: OrderTerms, raw: unknown, held: Map<string, Held>): Checked | 'benched' {
    const checked = checkPeerHeartbeat(this.o, order, raw, held)
    if (!('refused' in checked)) return checked
    this.o.metrics.peerRejections.inc({ peer: peer.id, reason: checked.refused })
    // An honest peer serves only heartbeats it verified; one that serves junk costs us signature checks.
    if (!this.bench.spendInvalid(peer.id)) return {}
    this.o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BENCHED' })
    this.o.logger.warn(
      { peer: peer.id, orderId: order.id },
      'peer served too many invalid heartbeats; not pulling from it for a while',
    )
    return 'benched'
  }
}
