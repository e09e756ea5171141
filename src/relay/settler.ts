import type { ChainRuntime, SettlementSignature } from '../chains.js'
import type { RelayerSet } from '../relayerSet.js'
import type { SettlementResult } from '../computeSettlement.js'
import { isQantaraError, type QantaraError } from '../errors.js'
import { owedInBtc, postRefused, posted, settle } from '../orders/lifecycle.js'
import type { OrderTerms } from '../order.js'
import type { Settlement } from '../settlement.js'
import { settlementHash } from '../settlementWire.js'
import type { OrderRecord } from '../orders/record.js'
import type { RelayerContext } from './context.js'
import { isMyTurn } from './turns.js'
import { honestStrategy, type SettlementStrategy } from './settlementStrategy.js'

/**
 * Takes a settling order to the chain: signs the stored settlement (always
 * the stored one, so every signature given is over bytes stored first),
 * gathers peers' signatures over the same bytes, and once a quorum is in,
 * posts it when this relayer's turn comes.
 */
export class Settler {
  /** Per order, peers whose signature the chain refused: left out of that order's sets. */
  private readonly refusedSigners = new Map<string, Set<string>>()
  private readonly strategy: SettlementStrategy

  constructor(private readonly ctx: RelayerContext) {
    this.strategy = ctx.options.strategy ?? honestStrategy
  }

  /** This relayer's settlement of an order from the heartbeats it holds now. */
  async settlementOf(terms: OrderTerms, chain: ChainRuntime): Promise<SettlementResult> {
    const { options } = this.ctx
    const schedule = options.challengeSchedule
    return this.strategy.compute(terms, await this.ctx.store.listHeartbeatKeys(terms.id), {
      threshold: options.threshold,
      feeBps: chain.feeRecipient ? options.feeBps : 0,
      feeRecipient: chain.feeRecipient,
      ...(schedule ? { scheduled: (slot: number) => schedule(terms, slot) } : {}),
    })
  }

  /** An ended order whose heartbeats are all in: compute and store its settlement, which moves it to settling. */
  async begin(record: OrderRecord, chain: ChainRuntime): Promise<boolean> {
    const id = record.terms.id
    const result = await this.settlementOf(record.terms, chain)
    if (!(await this.ctx.transition(id, settle('ended', result)))) return false
    const { settlement, reason, uptime } = result
    this.ctx.log.info(
      {
        orderId: id,
        reason,
        uptime,
        toProvider: settlement.toProvider.toString(),
        toRenter: settlement.toRenter.toString(),
      },
      'settlement computed',
    )
    return true
  }

  /** Runs one settling step for the order in the background, unless one is running or backing off. */
  schedule(orderId: string, signal: AbortSignal): void {
    this.ctx.tasks.start({ kind: 'settle', order: orderId }, () => this.step(orderId, signal))
  }

  forget(orderId: string): void {
    this.refusedSigners.delete(orderId)
  }

  private async step(id: string, signal: AbortSignal): Promise<void> {
    const record = await this.ctx.store.getOrder(id)
    if (!record?.settlement || record.state !== 'settling') return
    const chain = this.ctx.runtime(record.terms.chain)
    if (!chain) return
    try {
      const { settlement, hash } = await this.current(record, chain, signal)
      // One read of the chain's set for both the threshold and the signatures that count.
      const set = await this.ctx.store.getRelayerSet(chain.chain)
      const signatures = await this.usable(set, id, hash)
      const needed = set?.threshold ?? this.ctx.options.threshold
      if (!this.strategy.postsAlone) {
        if (signatures.length < needed) return
        const since = this.ctx.tasks.possibleSince({ kind: 'settle', order: id })
        if (!isMyTurn(this.ctx.turns, id, since, this.ctx.now())) return
      }
      await this.post(chain, record.terms, settlement, signatures.slice(0, needed), signal)
    } catch (err) {
      await this.failed(id, err)
    }
  }

  /**
   * The settlement to post, re-derived once per gossip round, quorum or not: gossip converges on one heartbeat
   * per slot and witness, so relayers that started from different sets end on the same bytes. A quorum over an
   * older settlement is no reason to stop: on a vault chain co-signers rebuild the release from their own
   * settlement, and a peer that froze ours could hold the deposit for ever. Paying twice is impossible whatever
   * we store: the escrow, the Solana receipt and the Cosmos sequence each let an order pay once.
   */
  private async current(
    record: OrderRecord,
    chain: ChainRuntime,
    signal: AbortSignal,
  ): Promise<{ settlement: Settlement; hash: string }> {
    const { terms } = record
    const id = terms.id
    const { gossip, gossipIntervalMs, relayerId } = this.ctx.options
    let settlement = record.settlement!
    let hash = settlementHash(settlement)
    const round =
      gossip !== undefined &&
      this.ctx.tasks.ready({ kind: 'pull-signatures', order: id }, gossipIntervalMs ?? 1_000)
    if (round) {
      const fresh = await this.settlementOf(terms, chain)
      const freshHash = settlementHash(fresh.settlement)
      if (freshHash !== hash && (await this.ctx.transition(id, settle('settling', fresh)))) {
        this.ctx.log.info(
          { orderId: id, was: hash, now: freshHash, upSlots: fresh.settlement.upSlots },
          'settlement recomputed from a converged heartbeat set',
        )
        settlement = fresh.settlement
        hash = freshHash
      }
    }
    const mine = (await this.ctx.store.listSignatures(id)).find((s) => s.relayerId === relayerId)
    if (mine?.settlementHash !== hash) {
      const own = await chain.signSettlement(terms, settlement)
      await this.ctx.store.putSignature({
        orderId: id,
        relayerId,
        settlementHash: hash,
        ...own,
        receivedAt: this.ctx.now(),
      })
    }
    if (gossip && round) {
      this.ctx.tasks.markStarted({ kind: 'pull-signatures', order: id })
      const signed = settlement
      await gossip.pullSignatures(
        terms,
        signed,
        (peer, sig) => chain.verifySettlementSignature(terms, signed, peer, sig),
        signal,
      )
    }
    return { settlement, hash }
  }

  /** Signatures over `hash` that count: from the chain's current relayer set, and not refused by the chain. */
  private async usable(
    set: RelayerSet | undefined,
    id: string,
    hash: string,
  ): Promise<SettlementSignature[]> {
    const refused = this.refusedSigners.get(id)
    return (await this.ctx.store.listSignatures(id)).filter(
      (s) =>
        s.settlementHash === hash && (!set || set.members.includes(s.signer)) && !refused?.has(s.relayerId),
    )
  }

  private async post(
    chain: ChainRuntime,
    terms: OrderTerms,
    settlement: Settlement,
    signatures: SettlementSignature[],
    signal: AbortSignal,
  ): Promise<void> {
    const { metrics } = this.ctx
    const started = this.ctx.now()
    metrics.settlementsSubmitted.inc({ chain: chain.chain })
    const outcome = await chain.submitSettlement(
      terms,
      settlement,
      signatures.map((s) => ({ signer: s.signer, signature: s.signature })),
      signal,
    )
    const txHash = outcome.status === 'submitted' ? outcome.txHash : undefined
    await this.ctx.transition(terms.id, posted(terms, settlement, txHash))
    metrics.settlementsConfirmed.inc({ chain: chain.chain, outcome: outcome.status })
    metrics.submitLatency.observe({ chain: chain.chain }, (this.ctx.now() - started) / 1000)
    const btc = owedInBtc(terms, settlement.toProvider)
    this.ctx.log.info(
      { orderId: terms.id, chain: chain.chain, outcome: outcome.status, txHash },
      btc ? "settlement final; the provider's share waits for its BTC payout" : 'settlement final',
    )
  }

  private async failed(id: string, err: unknown): Promise<void> {
    if (isQantaraError(err, 'ABORTED')) return
    if (isQantaraError(err, 'SIGNATURE_REFUSED') && (await this.dropRefusedSigner(id, err))) return
    if (isQantaraError(err, 'SUBMIT_REVERTED') && err.context.revert === 'AlreadyRefunded') {
      await this.ctx.transition(id, postRefused('reclaimed'))
      return
    }
    if (isQantaraError(err) && !err.retryable) {
      this.ctx.log.error(
        { orderId: id, err, details: err.details },
        'settlement cannot be posted; order disputed',
      )
      await this.ctx.transition(id, postRefused('refused'))
      return
    }
    this.ctx.tasks.failed({ kind: 'settle', order: id })
    this.ctx.log.warn({ orderId: id, err }, 'settlement submit failed; will retry')
  }

  /**
   * One signer's fault, not the settlement's: its signature is left out and the others go on — but only a
   * peer's, and only one that does not check here either (the blame comes from an RPC node, which may lie).
   */
  private async dropRefusedSigner(id: string, err: QantaraError<'SIGNATURE_REFUSED'>): Promise<boolean> {
    const culprit = (await this.ctx.store.listSignatures(id)).find(
      (s) => s.signature.toLowerCase() === err.context.signature.toLowerCase(),
    )
    const record = await this.ctx.store.getOrder(id)
    const chain = record && this.ctx.runtime(record.terms.chain)
    const checks =
      culprit && record?.settlement && chain
        ? await chain.verifySettlementSignature(record.terms, record.settlement, culprit.relayerId, culprit)
        : true
    if (!culprit || culprit.relayerId === this.ctx.options.relayerId || checks) return false
    let refused = this.refusedSigners.get(id)
    if (!refused) this.refusedSigners.set(id, (refused = new Set()))
    refused.add(culprit.relayerId)
    await this.ctx.store.deleteSignature(id, culprit.relayerId)
    this.ctx.metrics.peerRejections.inc({ peer: culprit.relayerId, reason: 'SIGNATURE_REFUSED_ON_CHAIN' })
    this.ctx.log.warn(
      { orderId: id, peer: culprit.relayerId, revert: err.context.revert },
      "chain refuses a peer's settlement signature; settling without it",
    )
    return true
  }
}
