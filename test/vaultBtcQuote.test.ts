import { ed25519 } from '@noble/curves/ed25519'
import { describe, expect, it } from 'vitest'
import { vaultQuoteProblem, vaultQuoteStatement, type QuotedOrder } from '../src/vault/btcQuote.js'
import type { VaultQuote } from '../src/vault/orderMemo.js'

// Solana's scheme: the solver's key is its address, and it signs the statement's text with ed25519.
const solverKey = ed25519.utils.randomPrivateKey()
const solver = ed25519.getPublicKey(solverKey)
const verify = (statement: string, key: Uint8Array, signature: Uint8Array) =>
  ed25519.verify(signature, new TextEncoder().encode(statement), key)

const order: QuotedOrder = {
  chain: 'solana:litesvm',
  vault: 'Vau1t1111111111111111111111111111111111111',
  orderId: `0x${'42'.repeat(32)}`,
  token: 'USDCMint11111111111111111111111111111111111',
  amount: 10_000_000n,
  end: 2_000n,
}
const unsigned: Omit<VaultQuote, 'signature'> = {
  script: Uint8Array.from(Buffer.from(`0014${'11'.repeat(20)}`, 'hex')),
  solver,
  satsPerE18: 10n ** 18n / 100n,
  payoutDeadline: 5_000n,
  maxAmount: 20_000_000n,
  openBy: 1_500n,
  latestEnd: 3_000n,
}
const sign = (q: Omit<VaultQuote, 'signature'>, o = order): VaultQuote => {
  const draft = { ...q, signature: new Uint8Array(64) }
  return { ...q, signature: ed25519.sign(new TextEncoder().encode(vaultQuoteStatement(o, draft)), solverKey) }
}
const quote = sign(unsigned)
const CAP = 10n ** 8n
const problem = (q: VaultQuote, o: QuotedOrder = order, blockTime = 1_000n) =>
  vaultQuoteProblem(o, q, blockTime, CAP, verify)

describe("a vault order's BTC quote, bound as the EVM escrow binds it", () => {
  it('opens an order within every bound, signed by the solver', () => {
    expect(problem(quote)).toBeUndefined()
    expect(problem(quote, { ...order, amount: unsigned.maxAmount }, unsigned.openBy)).toBeUndefined()
  })

  it('refuses each bound crossed, judged at the deposit block', () => {
    expect(problem(quote, order, 1_501n)).toBe('QUOTE_EXPIRED')
    expect(problem(quote, { ...order, amount: unsigned.maxAmount + 1n })).toBe('AMOUNT_ABOVE_QUOTE')
    expect(problem(quote, { ...order, end: 3_001n })).toBe('ENDS_AFTER_QUOTE')
    expect(problem(sign({ ...unsigned, payoutDeadline: 2_000n }))).toBe('DEADLINE_BEFORE_END')
    const costly = sign({ ...unsigned, satsPerE18: 10n ** 19n })
    expect(vaultQuoteProblem(order, costly, 1_000n, 10n ** 7n, verify)).toBe('PAYOUT_ABOVE_CAP')
  })

  it('refuses a quote moved to another order, vault, token or script, or with any field changed after signing', () => {
    for (const moved of [
      { ...order, orderId: `0x${'43'.repeat(32)}` as const },
      { ...order, vault: 'Other1111111111111111111111111111111111111' },
      { ...order, token: 'OtherMint111111111111111111111111111111111' },
      { ...order, chain: 'solana:other' },
    ])
      expect(problem(quote, moved)).toBe('BAD_QUOTE_SIGNATURE')
    for (const changed of [
      { script: Uint8Array.from(Buffer.from(`0014${'22'.repeat(20)}`, 'hex')) },
      { satsPerE18: unsigned.satsPerE18 + 1n },
      { maxAmount: unsigned.maxAmount + 1n },
      { openBy: unsigned.openBy + 1n },
      { latestEnd: unsigned.latestEnd + 1n },
      { payoutDeadline: unsigned.payoutDeadline + 1n },
      { solver: ed25519.getPublicKey(ed25519.utils.randomPrivateKey()) },
    ])
      expect(problem({ ...quote, ...changed })).toBe('BAD_QUOTE_SIGNATURE')
  })
})
