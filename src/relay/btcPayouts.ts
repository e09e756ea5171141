import type { ChainEvent, ChainRuntime, SubmitOutcome } from '../chains.js'
import type { BtcPayoutRail } from '../btcRail.js'
import { isQantaraError, QantaraError } from '../errors.js'
import { btcLegProblem, btcLegSettlement } from '../vault/btcLegCheck.js'
import type { ReleaseLeg } from '../vault/releaseLeg.js'
import { btcPayoutStep, btcShareClosed, payoutSeen } from '../orders/lifecycle.js'
import type { OrderRecord } from '../orders/record.js'
import type { RelayerContext } from './context.js'
import { isMyTurn } from './turns.js'

/** What makes a payout seen for an order one that no proof of it will ever be taken for (the escrow's revert; the vault quorum's check). */
const NEVER_PROVABLE = new Set([
  'PayoutMinedAfterDeadline',
  'PAID_AFTER_DEADLINE',
  'PROOF_WINDOW_CLOSED',
  'MORE_THAN_ONE_TAG',
  'UNDERPAID',
  'NOT_TAGGED_FOR_ORDER',
])

/** An order whose payout can no longer be proved is looked at (and logged) again hourly, in case an operator acts. */
const UNPROVABLE_RECHECK_MS = 3_600_000

/**
 * The BTC leg of orders whose provider is paid in BTC: records payouts seen
 * on Bitcoin, proves them on the escrow chain while it takes proofs, and with
 * no payout by the proof window's end has the escrow pay the provider on its
 * own chain. Both go in submitter order, with the same fail-over as settlements.
 */
export class BtcPayouts {
  constructor(
    private readonly ctx: RelayerContext,
    private readonly rail: BtcPayoutRail | undefined,
    /** Whether the Bitcoin watcher is read up to its head: only then can it tell that no payout was made. */
    private readonly bitcoinCaughtUp: () => boolean,
  ) {}

  /** Keeps the first mined payout tagged for the order that pays its provider's script. */
  async seen(e: Extract<ChainEvent, { kind: 'BtcPayoutSeen' }>): Promise<void> {
    const record = await this.ctx.store.getOrder(e.orderId)
    const script = record?.terms.btc?.script
    if (!record || !script) return
    // A vault repays the solver only against a payout tagged for this order alone (btcShare.ts): one tagged for
    // others too is no payout of it, and kept as one it would stand in the way of the real one (review, M1).
    if (this.ctx.runtime(record.terms.chain)?.kind === 'vault' && e.tags && e.tags.length !== 1) {
      this.ctx.log.warn(
        { orderId: e.orderId, btcTxid: e.txHash, tags: e.tags.length },
        'bitcoin payout tagged for more than one order; a vault does not repay it',
      )
      return
    }
    const paid = e.outputs.filter((o) => o.script === script).reduce((sum, o) => sum + o.sats, 0n)
    const t = payoutSeen(record, paid, e.txHash, e.block.hash)
    if (!t) return
    this.ctx.log.info({ orderId: e.orderId, btcTxid: e.txHash, sats: paid.toString() }, 'bitcoin payout seen')
    await this.ctx.transition(e.orderId, t)
  }

  /** Starts the step a payout-pending order needs, in the background, when it is this relayer's turn. */
  schedule(record: OrderRecord, nowS: number, signal: AbortSignal): void {
    const { terms, settlement } = record
    const chain = this.ctx.runtime(terms.chain)
    const key = { kind: 'btc-payout', order: terms.id } as const
    if (!settlement || !chain || !this.ctx.tasks.ready(key)) return
    const perform = this.performer(record, chain, signal)
    if (!perform) return
    const step = btcPayoutStep(record, nowS, this.bitcoinCaughtUp())
    if (step === 'unprovable') {
      this.ctx.tasks.pause(key, this.ctx.now() + UNPROVABLE_RECHECK_MS)
      this.ctx.log.error(
        { orderId: terms.id, btcTxid: record.btcTxid },
        'bitcoin payout made but not proved before the proof window closed; not claiming the fallback, the share stays in the escrow',
      )
      return
    }
    if (step === 'wait') return
    if (!isMyTurn(this.ctx.turns, terms.id, this.ctx.tasks.possibleSince(key), this.ctx.now())) return
    this.ctx.tasks.start(key, async () => {
      try {
        const outcome = await perform(step)
        // The proof's close names the payout it proved: what tells a webhook receiver the BTC was paid.
        await this.ctx.transition(
          terms.id,
          btcShareClosed(
            step === 'prove'
              ? {
                  btcTxid: record.btcTxid!,
                  ...(record.btcSats !== undefined ? { btcSats: record.btcSats } : {}),
                }
              : {},
          ),
        )
        this.ctx.log.info(
          { orderId: terms.id, outcome: outcome.status, via: step, btcTxid: record.btcTxid },
          step === 'prove'
            ? 'bitcoin payout proved'
            : "no bitcoin payout by the proof window's end; provider paid on the escrow chain",
        )
      } catch (err) {
        this.stepFailed(key, record, err)
      }
    })
  }

  /** A step that failed: tried again at once where it may succeed, hourly where it never will or spent a fee for nothing. */
  private stepFailed(key: { kind: 'btc-payout'; order: string }, record: OrderRecord, err: unknown): void {
    const orderId = record.terms.id
    if (isQantaraError(err, 'ABORTED')) return
    if (isQantaraError(err, 'SUBMIT_REVERTED') && NEVER_PROVABLE.has(String(err.context.revert))) {
      // Past the deadline the escrow takes only a payout Bitcoin dates by it; this one never will be.
      this.ctx.tasks.pause(key, this.ctx.now() + UNPROVABLE_RECHECK_MS)
      this.ctx.log.error(
        { orderId, btcTxid: record.btcTxid, why: err.context.revert },
        'bitcoin payout can never be proved; not claiming the fallback, the share stays in custody',
      )
      return
    }
    if (
      isQantaraError(err, 'SUBMIT_REVERTED') &&
      this.ctx.runtime(record.terms.chain)?.kind === 'vault' &&
      String(err.context.revert).startsWith('code ')
    ) {
      // A vault's release that ran and failed on chain, its fee spent (a payout address the chain refuses, say):
      // trying again every minute would spend a fee each time. Looked at again hourly, for an operator to act on.
      // (An escrow's refusal at estimation spends nothing, and may pass later: it is retried as any failure.)
      this.ctx.tasks.pause(key, this.ctx.now() + UNPROVABLE_RECHECK_MS)
      this.ctx.log.error(
        { orderId, err },
        'the BTC step failed on chain; not trying again for an hour, the share stays in custody',
      )
      return
    }
    this.ctx.tasks.failed(key)
    this.ctx.log.warn({ orderId, err }, 'bitcoin payout step failed; will retry')
  }

  /** How the chain deals with a BTC-owed share: the escrow takes a proof or pays the fallback; a vault's quorum releases the share. */
  private performer(
    record: OrderRecord,
    chain: ChainRuntime,
    signal: AbortSignal,
  ): ((step: 'prove' | 'fallback') => Promise<SubmitOutcome>) | undefined {
    const { terms, settlement } = record
    const toProvider = settlement!.toProvider
    if (chain.kind === 'escrow') {
      const capability = chain.btcPayouts
      if (!capability) return undefined
      return async (step) => {
        if (step === 'fallback') return capability.claimFallback(terms, toProvider, signal)
        if (!this.rail) throw new QantaraError('CONFIG_INVALID', 'no bitcoin source to prove payouts from')
        const proof = await this.rail.buildProof(record.btcTxid!, record.btcBlock!, signal)
        return capability.prove(terms, toProvider, proof, signal)
      }
    }
    const release = chain.releaseBtcShare?.bind(chain)
    if (!release) return undefined
    return async (step) => {
      // The share is what the settlement release kept, as every co-signer reads it from the chain.
      const kept = await btcLegSettlement(this.ctx.store, record)
      if (!kept)
        throw new QantaraError(
          'SUBMIT_FAILED',
          `the settlement release of ${terms.id} is not read here yet`,
          {
            retryable: true,
          },
        )
      const leg: ReleaseLeg =
        step === 'fallback'
          ? { kind: 'btc-fallback' }
          : { kind: 'btc-solver', btcTxid: record.btcTxid!, btcBlock: record.btcBlock! }
      // Judged here as every co-signer will judge it: a release they would all refuse is not asked for.
      const problem = await btcLegProblem({ ...record, settlement: kept }, leg, {
        rail: this.rail,
        bitcoinCaughtUp: this.bitcoinCaughtUp(),
        nowS: BigInt(Math.floor(this.ctx.now() / 1000)),
        signal,
      })
      if (problem)
        throw new QantaraError(
          'SUBMIT_REVERTED',
          `the BTC share of ${terms.id} is not released: ${problem}`,
          {
            retryable: !NEVER_PROVABLE.has(problem),
            context: { revert: problem },
          },
        )
      return release(terms, kept, leg, signal)
    }
  }
}
