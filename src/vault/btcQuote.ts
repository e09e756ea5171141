import { createHash } from 'node:crypto'
import type { BtcPayoutTerms, Hex32 } from '../order.js'
import type { VaultQuote } from './orderMemo.js'

/**
 * A solver's BTC quote for a vault order, bound as an EVM escrow's `openBtc`
 * binds it: to the order id (so to the chain, the renter and the salt), the
 * vault, the token, the provider's script, the rate, the deadline, the most the
 * order may lock, when the quote stops opening orders and when the order must
 * end. The solver signs the statement's text; each family checks the signature
 * with its own scheme (ed25519 on Solana; secp256k1 over the text's sha256 on
 * Cosmos, as attestations are).
 */
export interface QuotedOrder {
  chain: string
  /** The vault the order is paid into: a quote for one vault never opens an order in another. */
  vault: string
  orderId: Hex32
  /** The asset's denom or mint, as the chain names it. */
  token: string
  amount: bigint
  /** Unix seconds the order's last slot ends. */
  end: bigint
}

/** The text a solver signs for `quote` on `order`: every field in a fixed order, nothing a reader must parse. */
export function vaultQuoteStatement(order: Omit<QuotedOrder, 'amount' | 'end'>, quote: VaultQuote): string {
  const scriptHash = createHash('sha256').update(quote.script).digest('hex')
  return [
    'qantara/vault-btc-quote/v1',
    order.chain,
    order.vault,
    order.orderId,
    order.token,
    scriptHash,
    Buffer.from(quote.solver).toString('hex'),
    quote.maxAmount,
    quote.satsPerE18,
    quote.openBy,
    quote.latestEnd,
    quote.payoutDeadline,
  ].join(':')
}

export type VaultQuoteProblem =
  | 'BAD_QUOTE_SIGNATURE'
  | 'QUOTE_EXPIRED'
  | 'AMOUNT_ABOVE_QUOTE'
  | 'ENDS_AFTER_QUOTE'
  | 'DEADLINE_BEFORE_END'
  | 'PAYOUT_ABOVE_CAP'

/**
 * Why a deposit's quote opens no BTC order, judged at the deposit's block
 * time as the escrow judges at its own: every relayer reads the same block, so
 * every relayer decides alike. `verify` is the family's check of the solver's
 * signature over the statement; `maxPayoutSats` the operators' cap on what one
 * order may owe in BTC.
 */
export function vaultQuoteProblem(
  order: QuotedOrder,
  quote: VaultQuote,
  blockTime: bigint,
  maxPayoutSats: bigint,
  verify: (statement: string, solver: Uint8Array, signature: Uint8Array) => boolean,
): VaultQuoteProblem | undefined {
  if (quote.payoutDeadline <= order.end) return 'DEADLINE_BEFORE_END'
  if (blockTime > quote.openBy) return 'QUOTE_EXPIRED'
  if (order.amount > quote.maxAmount) return 'AMOUNT_ABOVE_QUOTE'
  if ((order.amount * quote.satsPerE18) / 10n ** 18n > maxPayoutSats) return 'PAYOUT_ABOVE_CAP'
  if (order.end > quote.latestEnd) return 'ENDS_AFTER_QUOTE'
  // The signature last: the cheap bounds refuse most junk before any curve arithmetic.
  if (!verify(vaultQuoteStatement(order, quote), quote.solver, quote.signature)) return 'BAD_QUOTE_SIGNATURE'
  return undefined
}

/** A solver's quote terms, as `qantara solver quote` takes them (the script in hex), in the form a memo's quote holds them. */
export function quoteTermsOf(q: Omit<BtcPayoutTerms, 'solver'>): Omit<VaultQuote, 'solver' | 'signature'> {
  return {
    script: Uint8Array.from(Buffer.from(q.script, 'hex')),
    satsPerE18: q.satsPerE18,
    payoutDeadline: q.payoutDeadline,
    maxAmount: q.maxAmount,
    openBy: q.openBy,
    latestEnd: q.latestEnd,
  }
}
