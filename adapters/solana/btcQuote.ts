import { getBase58Decoder } from '@solana/kit'
import { ed25519Verify, type Ed25519Signer } from '../../src/ed25519.js'
import type { BtcPayoutTerms } from '../../src/order.js'
import {
  vaultQuoteProblem,
  vaultQuoteStatement,
  type QuotedOrder,
  type VaultQuoteProblem,
} from '../../src/vault/btcQuote.js'
import type { VaultQuote } from '../../src/vault/orderMemo.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** Whether `signature` (64 bytes) is the ed25519 signature of the Solana key `solver` (32 bytes) over the quote's statement. */
function verifyQuote(statement: string, solver: Uint8Array, signature: Uint8Array): boolean {
  return (
    solver.length === 32 &&
    signature.length === 64 &&
    ed25519Verify(`0x${hex(solver)}`, new TextEncoder().encode(statement), hex(signature))
  )
}

/**
 * The BTC terms a deposit's quote gives its order on a Solana vault, or why it
 * gives none: the solver's Solana key signed the quote for this order id,
 * vault and mint (ed25519 over the statement's text), and the deposit is
 * within every bound it sets, judged at the deposit's block time.
 */
export function solanaQuotedTerms(
  order: QuotedOrder,
  quote: VaultQuote,
  blockTime: bigint,
  maxPayoutSats: bigint,
): { terms: BtcPayoutTerms } | { problem: VaultQuoteProblem } {
  const problem = vaultQuoteProblem(order, quote, blockTime, maxPayoutSats, verifyQuote)
  if (problem) return { problem }
  return {
    terms: {
      script: hex(quote.script),
      solver: getBase58Decoder().decode(quote.solver),
      satsPerE18: quote.satsPerE18,
      payoutDeadline: quote.payoutDeadline,
      maxAmount: quote.maxAmount,
      openBy: quote.openBy,
      latestEnd: quote.latestEnd,
    },
  }
}

/** A solver's signature over its quote for a Solana vault order: what the order memo carries. */
export function signSolanaQuote(
  signer: Ed25519Signer,
  order: Omit<QuotedOrder, 'amount' | 'end'>,
  quote: Omit<VaultQuote, 'signature'>,
): Uint8Array {
  const statement = vaultQuoteStatement(order, { ...quote, signature: new Uint8Array() })
  return Uint8Array.from(Buffer.from(signer.sign(new TextEncoder().encode(statement)).slice(2), 'hex'))
}
