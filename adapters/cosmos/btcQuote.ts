import type { BtcPayoutTerms } from '../../src/order.js'
import {
  vaultQuoteProblem,
  vaultQuoteStatement,
  type QuotedOrder,
  type VaultQuoteProblem,
} from '../../src/vault/btcQuote.js'
import type { VaultQuote } from '../../src/vault/orderMemo.js'
import { cosmosAddress, cosmosVerify, type CosmosKey } from './keys.js'

const COMPRESSED_KEY_BYTES = 33

/** Whether `signature` (64 bytes) is the compressed secp256k1 key `solver`'s over sha256 of the quote's statement, as attestations are signed. */
function verifyQuote(statement: string, solver: Uint8Array, signature: Uint8Array): boolean {
  return (
    solver.length === COMPRESSED_KEY_BYTES &&
    cosmosVerify(solver, new TextEncoder().encode(statement), signature)
  )
}

/**
 * The BTC terms a deposit's quote gives its order on a Cosmos vault, or why it
 * gives none: the memo carries the solver's compressed public key (its
 * account, repaid from the vault, is derived from it under the chain's
 * prefix), which signed the quote for this order id, vault and denom; the
 * deposit is within every bound it sets, judged at the deposit's block time.
 */
export function cosmosQuotedTerms(
  order: QuotedOrder,
  quote: VaultQuote,
  blockTime: bigint,
  maxPayoutSats: bigint,
  prefix: string,
): { terms: BtcPayoutTerms } | { problem: VaultQuoteProblem } {
  const problem = vaultQuoteProblem(order, quote, blockTime, maxPayoutSats, verifyQuote)
  if (problem) return { problem }
  return {
    terms: {
      script: Buffer.from(quote.script).toString('hex'),
      solver: cosmosAddress(quote.solver, prefix),
      satsPerE18: quote.satsPerE18,
      payoutDeadline: quote.payoutDeadline,
      maxAmount: quote.maxAmount,
      openBy: quote.openBy,
      latestEnd: quote.latestEnd,
    },
  }
}

/** A solver's signature over its quote for a Cosmos vault order, with its Cosmos key: what the order memo carries beside its public key. */
export function signCosmosQuote(
  key: CosmosKey,
  order: Omit<QuotedOrder, 'amount' | 'end'>,
  quote: Omit<VaultQuote, 'signature' | 'solver'>,
): Uint8Array {
  const statement = vaultQuoteStatement(order, { ...quote, solver: key.pubkey, signature: new Uint8Array() })
  return key.sign(new TextEncoder().encode(statement))
}
