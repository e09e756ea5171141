import type { CheckedBtcPayout } from '../btcRail.js'
import { BTC_DUST_SATS, btcProofWindowEnd, satsOwed, type OrderTerms } from '../order.js'

export type VaultBtcPayoutProblem =
  | 'NOT_A_BTC_ORDER'
  | 'NOTHING_OWED_IN_BTC'
  | 'NOT_TAGGED_FOR_ORDER'
  | 'MORE_THAN_ONE_TAG'
  | 'UNDERPAID'
  | 'PAID_AFTER_DEADLINE'
  | 'PROOF_WINDOW_CLOSED'

/**
 * Why a Bitcoin payout does not repay the solver `share` of a vault order,
 * judged by each quorum member from its own source (`payout`, as
 * BtcPayoutRail.checkPayout proves it) — the checks an EVM escrow makes of a
 * proof, made off chain. A payout repays one order only: it must carry
 * exactly one tag, this order's id, so no transaction can be shown for two
 * orders and no state is needed to refuse its reuse. It must pay the
 * provider's script at least what the share is worth at the quoted rate, in
 * a block dated by the deadline, and be shown before the proof window closes.
 */
export function vaultBtcPayoutProblem(
  terms: OrderTerms,
  share: bigint,
  payout: Pick<CheckedBtcPayout, 'tags' | 'outputs' | 'blockTime'>,
  nowSeconds: bigint,
): VaultBtcPayoutProblem | undefined {
  const btc = terms.btc
  if (!btc) return 'NOT_A_BTC_ORDER'
  const owed = satsOwed(btc, share)
  if (owed < BTC_DUST_SATS) return 'NOTHING_OWED_IN_BTC'
  if (!payout.tags.includes(terms.id)) return 'NOT_TAGGED_FOR_ORDER'
  if (payout.tags.length !== 1) return 'MORE_THAN_ONE_TAG'
  const paid = payout.outputs.filter((o) => o.script === btc.script).reduce((sum, o) => sum + o.sats, 0n)
  if (paid < owed) return 'UNDERPAID'
  if (payout.blockTime > btc.payoutDeadline) return 'PAID_AFTER_DEADLINE'
  if (nowSeconds > btcProofWindowEnd(btc)) return 'PROOF_WINDOW_CLOSED'
  return undefined
}
