import type { Hex32, OrderTerms } from '../order.js'
import { owedInBtc } from '../orders/lifecycle.js'
import type { Settlement } from '../settlement.js'

/**
 * Which part of an order a vault release pays. An order owed in BTC is
 * released in two legs, each once only: at settlement the renter's share and
 * the fee (the provider's share stays in the vault); then the provider's
 * share, to the solver against a Bitcoin payout the quorum checked, or to the
 * provider where none came by the proof window's end. Every other order is
 * released whole at settlement.
 */
export type ReleaseLeg =
  | { kind: 'settlement' }
  | { kind: 'btc-solver'; btcTxid: string; btcBlock: string }
  | { kind: 'btc-fallback' }

export const SETTLEMENT_LEG: ReleaseLeg = { kind: 'settlement' }

const HASH = /^[0-9a-f]{64}$/

/** The leg as a co-signing request names it: `settlement`, `btc-solver:<txid>:<block>` or `btc-fallback`. */
export function encodeLeg(leg: ReleaseLeg): string {
  return leg.kind === 'btc-solver' ? `btc-solver:${leg.btcTxid}:${leg.btcBlock}` : leg.kind
}

/** A leg read from a peer's request, strictly; undefined for anything else. */
export function decodeLeg(text: string): ReleaseLeg | undefined {
  if (text === 'settlement' || text === 'btc-fallback') return { kind: text }
  const [kind, btcTxid, btcBlock, ...rest] = text.split(':')
  if (kind !== 'btc-solver' || rest.length || !HASH.test(btcTxid ?? '') || !HASH.test(btcBlock ?? ''))
    return undefined
  return { kind, btcTxid: btcTxid!, btcBlock: btcBlock! }
}

/** Whether the leg pays the provider's BTC-owed share (to the solver or the provider). */
export const isBtcLeg = (leg: ReleaseLeg) => leg.kind !== 'settlement'

/** The submission key a relayer stores the leg's release under: one per order and leg, whichever round built it. */
export function legKey(orderId: Hex32, leg: ReleaseLeg): string {
  // Both BTC legs under one key: the share is released once, to the solver or to the provider.
  return isBtcLeg(leg) ? `btc-release:${orderId}` : `release:${orderId}`
}

/** What the leg pays, wallet by wallet, in this order: provider (or solver), fee recipient, renter; zero amounts kept. */
export function legPayments(
  order: OrderTerms,
  settlement: Settlement,
  leg: ReleaseLeg,
): { to: string; amount: bigint }[] {
  switch (leg.kind) {
    case 'btc-solver':
      return [{ to: order.btc!.solver, amount: settlement.toProvider }]
    case 'btc-fallback':
      return [{ to: order.payout, amount: settlement.toProvider }]
    case 'settlement':
      return [
        // Owed in BTC: the provider's share stays in the vault for the BTC leg.
        { to: order.payout, amount: owedInBtc(order, settlement.toProvider) ? 0n : settlement.toProvider },
        { to: settlement.feeRecipient, amount: settlement.fee },
        { to: order.renter, amount: settlement.toRenter },
      ]
  }
}
