import { describe, expect, it } from 'vitest'
import { vaultOrderProblem } from '../src/vault/vaultOrderProblem.js'

const blockTime = 1_797_000_000n

describe('the vault order rule every vault watcher applies', () => {
  it('refuses the dust order of the review: 1 unit, 1 slot, starting at 0', () => {
    expect(
      vaultOrderProblem({
        order: { amount: 1n, start: 0n, slotLength: 1, slots: 1 },
        blockTime,
        minOrderAmount: 0n,
      }),
    ).toBe('ORDER_ALREADY_ENDED')
  })

  it("refuses an order that ends at its deposit's block, and takes one that ends a second later or started already", () => {
    const order = { amount: 5_000_000n, start: blockTime - 600n, slotLength: 60, slots: 10 }
    expect(vaultOrderProblem({ order, blockTime, minOrderAmount: 0n })).toBe('ORDER_ALREADY_ENDED')
    expect(vaultOrderProblem({ order, blockTime: blockTime - 1n, minOrderAmount: 0n })).toBeUndefined()
    expect(
      vaultOrderProblem({ order: { ...order, slots: 11 }, blockTime, minOrderAmount: 0n }),
    ).toBeUndefined()
  })

  it("refuses an order below the chain's minimum and takes one at it; 0 is no minimum", () => {
    const order = { amount: 999_999n, start: blockTime + 300n, slotLength: 60, slots: 10 }
    expect(vaultOrderProblem({ order, blockTime, minOrderAmount: 1_000_000n })).toBe('BELOW_MIN_ORDER')
    expect(
      vaultOrderProblem({ order: { ...order, amount: 1_000_000n }, blockTime, minOrderAmount: 1_000_000n }),
    ).toBeUndefined()
    expect(
      vaultOrderProblem({ order: { ...order, amount: 10n }, blockTime, minOrderAmount: 0n }),
    ).toBeUndefined()
  })
})
