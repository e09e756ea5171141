import type { SettlementSignature, SubmitOutcome } from '../chains.js'
import { QantaraError } from '../errors.js'
import type { Hex32, OrderTerms } from '../order.js'
import type { Settlement } from '../settlement.js'
import { assertReleaseOpen } from './assertReleaseOpen.js'
import {
  askCosigner,
  cosignerOrder,
  gatherByFill,
  gatherBySets,
  noCosigners,
  type Gathered,
} from './cosigners.js'
import { SETTLEMENT_LEG, type ReleaseLeg } from './releaseLeg.js'
import { ReleaseLedger } from './releaseLedger.js'
import { cosignRefused } from './refusals.js'
import type { ReleaseDraft, ReleaseRound, VaultReleaseFamily } from './releaseFamily.js'

/**
 * The co-signed vault release, shared by every vault chain (Solana, Cosmos):
 * a vault is a multisig account with no per-order state, paid out by one
 * transaction a threshold of the relayers sign. The submitter builds the
 * release of its settlement for a round (a durable nonce, an account
 * sequence), asks co-signers (those that attested first) to sign it, stores
 * it before it broadcasts it, and follows it until it lands or can never land.
 * Each co-signer rebuilds the release from its own settlement and signs only
 * identical bytes, and never an order its store holds released or closed.
 * What a chain does differently (how a round is pinned, how bytes are built,
 * signed and sent) is the family's hooks (`releaseFamily.ts`).
 */

const ALREADY_SETTLED: SubmitOutcome = { status: 'already-settled' }

/** The release protocol over a family's hooks: `submit` for the relayer whose turn it is, `cosign` for the others. */
export class VaultRelease<Round extends ReleaseRound, Draft extends ReleaseDraft, Payload> {
  private readonly ledger: ReleaseLedger<Payload>

  constructor(private readonly family: VaultReleaseFamily<Round, Draft, Payload>) {
    this.ledger = new ReleaseLedger(family.store, family.chain, family.self, (payload) =>
      family.sender.nonceOf(payload),
    )
  }

  /** Releases the settlement's leg once, whoever else tries: resumes a stored release, or builds, co-signs, stores and sends a new one. */
  async submit(
    order: OrderTerms,
    settlement: Settlement,
    attested: readonly SettlementSignature[],
    signal?: AbortSignal,
    leg: ReleaseLeg = SETTLEMENT_LEG,
  ): Promise<SubmitOutcome> {
    const stored = await this.ledger.get(order.id, leg)
    const ended = await this.endedAlready(order.id, leg, stored)
    if (ended) return ended
    let pending = stored?.state === 'pending' ? stored.payload : undefined
    // Sent before a crash, or perhaps never sent (a crash right after it was stored): the same bytes again cost nothing.
    if (pending !== undefined) await this.family.sender.broadcast(order.id, pending, false)
    const lost = this.family.onLost
    for (let built = 0; ; built++) {
      // The last release a call may build is left pending, unfollowed: the relayer's next call follows it.
      if (lost.then === 'rebuild' && built === lost.rounds) throw lost.exhausted(order.id)
      if (pending !== undefined) {
        const outcome = await this.followToEnd(order.id, leg, pending, signal)
        if (outcome) return outcome
      }
      const next = await this.release(order, settlement, attested, leg, signal)
      if (next.sent === false) return ALREADY_SETTLED
      pending = next.payload
    }
  }

  /** A co-signer's answer to a request: its signature over the release the request stands for, or a COSIGN_REFUSED. */
  async cosign(
    order: OrderTerms,
    settlement: Settlement,
    request: string,
    leg: ReleaseLeg = SETTLEMENT_LEG,
  ): Promise<SettlementSignature> {
    // Released or closed already, by this relayer's store, whatever the chain's own once-only guard says (review L2).
    await assertReleaseOpen(this.family.store, this.family.chain, order.id, leg)
    const draft = await this.family.messages.rebuild(
      order,
      settlement,
      request,
      (why) => cosignRefused(order.id, why),
      leg,
    )
    return { signer: this.family.self, signature: await this.family.messages.sign(draft) }
  }

  /** Where the leg ended before this call: landed by this relayer, or released by anyone. */
  private async endedAlready(
    orderId: Hex32,
    leg: ReleaseLeg,
    stored: { state: string; payload: Payload } | undefined,
  ): Promise<SubmitOutcome | undefined> {
    if (stored?.state === 'confirmed') return this.landed(stored.payload)
    if (stored?.state === 'already-settled' || (await this.family.vault.releasedOnChain?.(orderId, leg)))
      return ALREADY_SETTLED
    return undefined
  }

  private landed(payload: Payload): SubmitOutcome {
    return { status: 'submitted', txHash: this.family.sender.txHash(payload), confirmations: 1 }
  }

  /** Follows a sent release to its end and records it; undefined where another is to be built at once. */
  private async followToEnd(
    orderId: Hex32,
    leg: ReleaseLeg,
    payload: Payload,
    signal?: AbortSignal,
  ): Promise<SubmitOutcome | undefined> {
    const fate = await this.family.sender.follow(payload, signal)
    if (fate.end === 'landed') {
      await this.ledger.put(orderId, leg, 'confirmed', payload)
      return this.landed(payload)
    }
    // It can never land; someone else's release may have.
    if (await this.family.vault.releasedOnChain?.(orderId, leg)) {
      await this.ledger.put(orderId, leg, 'already-settled', payload)
      return ALREADY_SETTLED
    }
    await this.ledger.put(orderId, leg, 'failed', payload)
    // Out of gas, a vault short of funds or of its fee reserve: another try would spend another fee the same way.
    if (fate.end === 'failed')
      throw new QantaraError(
        'SUBMIT_REVERTED',
        `the release of ${orderId} failed on chain: code ${fate.code} ${fate.log}`,
        { retryable: false, context: { revert: `code ${fate.code}` } },
      )
    const lost = this.family.onLost
    if (lost.then === 'retry') throw lost.error(orderId, payload)
    lost.rebuilding(orderId, payload)
    return undefined
  }

  /** A new release: its round, its co-signatures, stored, then broadcast; none where the order turns out released. */
  private async release(
    order: OrderTerms,
    settlement: Settlement,
    attested: readonly SettlementSignature[],
    leg: ReleaseLeg,
    signal?: AbortSignal,
  ): Promise<{ sent: true; payload: Payload } | { sent: false }> {
    const round = await this.family.vault.openRound(order, leg, signal)
    if (round === 'released') {
      if (this.family.remembersRelease) await this.ledger.put(order.id, leg, 'already-settled')
      return { sent: false }
    }
    const gathered = await this.gather(order, settlement, round, attested, leg, signal)
    if ('failures' in gathered)
      throw noCosigners(order.id, round.threshold - 1, gathered.failures, round.pinned)
    const own = await this.family.messages.sign(gathered.draft)
    const payload = this.family.messages.assemble(
      gathered.draft,
      new Map([[this.family.self, own], ...gathered.signatures]),
    )
    // Stored before it is broadcast: after a crash the same transaction is sent again and followed, never a second one.
    await this.ledger.put(order.id, leg, 'pending', payload)
    const refused = await this.family.sender.broadcast(order.id, payload, true)
    if (refused) {
      await this.ledger.put(order.id, leg, 'failed', payload)
      throw new QantaraError(
        'SUBMIT_FAILED',
        `the node refused the release of ${order.id}: code ${refused.code} ${refused.log.slice(0, 300)}`,
        { retryable: true },
      )
    }
    return { sent: true, payload }
  }

  /** Enough co-signers' checked signatures over the round's release, attested signers asked first. */
  private gather(
    order: OrderTerms,
    settlement: Settlement,
    round: Round,
    attested: readonly SettlementSignature[],
    leg: ReleaseLeg,
    signal?: AbortSignal,
  ): Promise<Gathered<Draft>> {
    const { self, messages, cosigners } = this.family
    const candidates = cosignerOrder(
      self,
      attested.map((a) => a.signer),
      round.signers,
    )
    const need = round.threshold - 1
    const ask = (draft: Draft, signer: string) =>
      askCosigner(
        cosigners,
        order.id,
        signer,
        draft.request,
        leg,
        (signature) => messages.verify(draft, signer, signature),
        signal,
      )
    const draftFor = (others: readonly string[]) =>
      messages.draft(order, settlement, round, [self, ...others], leg)
    if (this.family.signersInMessage) return gatherBySets(candidates, need, draftFor, ask, signal)
    return draftFor([]).then((draft) => gatherByFill(candidates, need, draft, ask, signal))
  }
}
