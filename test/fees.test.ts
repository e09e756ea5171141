import { describe, expect, it } from 'vitest'
import { bumpFees, initialFees } from '../adapters/evm/fees.js'

const gwei = (n: number) => BigInt(n) * 10n ** 9n
const caps = { maxFeePerGas: gwei(100), maxPriorityFeePerGas: gwei(5) }

describe('EIP-1559 fee policy', () => {
  it('starts at twice the base fee plus the suggested tip', () => {
    expect(initialFees(gwei(10), gwei(1), caps)).toEqual({
      maxFeePerGas: gwei(21),
      maxPriorityFeePerGas: gwei(1),
    })
  })

  it('never starts above the caps', () => {
    expect(initialFees(gwei(80), gwei(9), caps)).toEqual({
      maxFeePerGas: gwei(100),
      maxPriorityFeePerGas: gwei(5),
    })
  })

  it('bumps both fields by 12.5%, rounding up', () => {
    expect(
      bumpFees({ maxFeePerGas: gwei(21), maxPriorityFeePerGas: gwei(1) }, gwei(10), gwei(1), caps),
    ).toEqual({ maxFeePerGas: 23_625_000_000n, maxPriorityFeePerGas: 1_125_000_000n })
  })

  it('follows the network when it asks for more than a bump', () => {
    expect(
      bumpFees({ maxFeePerGas: gwei(21), maxPriorityFeePerGas: gwei(1) }, gwei(30), gwei(3), caps),
    ).toEqual({ maxFeePerGas: gwei(63), maxPriorityFeePerGas: gwei(3) })
  })

  it('stops at the cap, and gives up once a +10% replacement no longer fits', () => {
    let fees = { maxFeePerGas: gwei(21), maxPriorityFeePerGas: gwei(1) }
    const seen: bigint[] = []
    for (let i = 0; i < 50; i++) {
      const next = bumpFees(fees, gwei(10), gwei(1), caps)
      if (!next) break
      expect(next.maxFeePerGas).toBeLessThanOrEqual(caps.maxFeePerGas)
      expect(next.maxPriorityFeePerGas).toBeLessThanOrEqual(caps.maxPriorityFeePerGas)
      seen.push(next.maxFeePerGas)
      fees = next
    }
    expect(seen.length).toBeGreaterThan(5)
    expect(seen.length).toBeLessThan(50)
    expect(fees.maxFeePerGas).toBeLessThanOrEqual(gwei(100))
  })
})
