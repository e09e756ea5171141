import type { ChainEvent, SubmitOutcome } from '../chains.js'
import type { BtcPayoutRail } from '../btcRail.js'
import { isQantaraError } from '../errors.js'
import { btcPayoutStep, btcShareClosed, payoutSeen } from '../orders/lifecycle.js'
import type { OrderRecord } from '../orders/record.js'
import type { RelayerContext } from './context.js'
import { isMyTurn } from './turns.js'

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
    if (!settlement || chain?.kind !== 'escrow' || !chain.btcPayouts || !this.ctx.tasks.ready(key)) return
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
    const capability = chain.btcPayouts
    this.ctx.tasks.start(key, async () => {
      try {
        let outcome: SubmitOutcome
        if (step === 'prove') {
          if (!this.rail) return
          const proof = await this.rail.buildProof(record.btcTxid!, record.btcBlock!, signal)
          outcome = await capability.prove(terms, settlement.toProvider, proof, signal)
        } else {
          outcome = await capability.claimFallback(terms, settlement.toProvider, signal)
        }
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
        if (isQantaraError(err, 'ABORTED')) return
        if (isQantaraError(err, 'SUBMIT_REVERTED') && err.context.revert === 'PayoutMinedAfterDeadline') {
          // Past the deadline the escrow takes only a payout Bitcoin dates by it; this one never will be.
          this.ctx.tasks.pause(key, this.ctx.now() + UNPROVABLE_RECHECK_MS)
          this.ctx.log.error(
            { orderId: terms.id, btcTxid: record.btcTxid },
            'bitcoin payout mined after the deadline cannot be proved; not claiming the fallback, the share stays in the escrow',
          )
          return
        }
        this.ctx.tasks.failed(key)
        this.ctx.log.warn({ orderId: terms.id, err }, 'bitcoin payout step failed; will retry')
      }
    })
  }
}
