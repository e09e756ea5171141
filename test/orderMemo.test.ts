import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { describe, expect, it } from 'vitest'
import {
  MAX_MEMO_BYTES,
  decodeOrderMemo,
  encodeOrderMemo,
  vaultOrderId,
  type VaultOrderMemo,
} from '../src/vault/orderMemo.js'

const memo: VaultOrderMemo = {
  salt: Uint8Array.from({ length: 16 }, (_, i) => i + 1),
  providerId: `0x${'ab'.repeat(32)}`,
  start: 1_767_225_600n,
  slotLength: 60,
  slots: 10,
  gpu: REFERENCE_ORDER_GPU,
  amount: 12_500_000n,
  payout: Uint8Array.from({ length: 32 }, (_, i) => 255 - i),
}
const quote = {
  script: Uint8Array.from(Buffer.from(`0014${'11'.repeat(20)}`, 'hex')),
  solver: new Uint8Array(32).fill(7),
  satsPerE18: 1_000_000n,
  payoutDeadline: 1_767_300_000n,
  maxAmount: 20_000_000n,
  openBy: 1_767_220_000n,
  latestEnd: 1_767_240_000n,
  signature: new Uint8Array(64).fill(9),
}
const body = (text: string) => Buffer.from(text.slice(4), 'base64url')
const memoOf = (b: Buffer) => `qv2:${b.toString('base64url')}`

/** The memo with its GPU word (8 bytes after the flags, salt, provider, start, slot length and slots) replaced. */
function withGpuWord(word: bigint): string {
  const b = body(encodeOrderMemo(memo))
  b.writeBigUInt64BE(word, 1 + 16 + 32 + 8 + 4 + 4)
  return memoOf(b)
}

describe('vault order memo', () => {
  it('fits the largest quote a vault chain writes: an 80-byte script, a 33-byte key, 16-byte amounts and rate, a 32-byte payout', () => {
    const max = 2n ** 128n - 1n
    const largest = {
      ...memo,
      amount: max,
      quote: {
        ...quote,
        script: new Uint8Array(80).fill(0x51),
        solver: new Uint8Array(33).fill(2),
        satsPerE18: max,
        maxAmount: max,
      },
    }
    const text = encodeOrderMemo(largest)
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_MEMO_BYTES)
    expect(decodeOrderMemo(text)).toEqual({ ok: true, memo: largest })
  })

  it('round-trips an order, with and without a solver quote, in a few hundred bytes', () => {
    const plain = encodeOrderMemo(memo)
    expect(plain.startsWith('qv2:')).toBe(true)
    expect(decodeOrderMemo(plain)).toEqual({ ok: true, memo })
    const withQuote = encodeOrderMemo({ ...memo, quote })
    expect(decodeOrderMemo(withQuote)).toEqual({ ok: true, memo: { ...memo, quote } })
    expect(plain.length).toBe(4 + Math.ceil(((1 + 16 + 32 + 8 + 4 + 4 + 8 + 4 + 33) * 4) / 3))
    expect(withQuote.length).toBeLessThan(MAX_MEMO_BYTES)
  })

  it('carries amounts beyond 64 bits (18-decimal tokens)', () => {
    const big = { ...memo, amount: 10n ** 30n }
    expect(decodeOrderMemo(encodeOrderMemo(big))).toEqual({ ok: true, memo: big })
  })

  const bad: [string, string, string][] = [
    ['text that is no order memo', 'thanks for the GPU', 'NOT_AN_ORDER_MEMO'],
    ['a newer version', `qv3:${encodeOrderMemo(memo).slice(4)}`, 'UNKNOWN_VERSION'],
    ['the version before GPUs were named', `qv1:${encodeOrderMemo(memo).slice(4)}`, 'UNKNOWN_VERSION'],
    ['600 bytes', `qv2:${'A'.repeat(596)}`, 'MEMO_TOO_LARGE'],
    ['characters outside base64url', `${encodeOrderMemo(memo)}=`, 'MALFORMED_MEMO'],
    ['a body cut short', encodeOrderMemo(memo).slice(0, -6), 'MALFORMED_MEMO'],
    ['bytes left over', memoOf(Buffer.concat([body(encodeOrderMemo(memo)), Buffer.of(0)])), 'MALFORMED_MEMO'],
    [
      'an unknown flag',
      memoOf(Buffer.concat([Buffer.of(2), body(encodeOrderMemo(memo)).subarray(1)])),
      'MALFORMED_MEMO',
    ],
    ['zero slots', encodeOrderMemo({ ...memo, slots: 0 }), 'ORDER_OUT_OF_BOUNDS'],
    ['a GPU class nobody defined', withGpuWord(0x0100_dead_0000_0000n), 'ORDER_OUT_OF_BOUNDS'],
    ['zero GPUs', withGpuWord(0x0000_0001_0000_0000n), 'ORDER_OUT_OF_BOUNDS'],
    ['17 GPUs', withGpuWord(0x1100_0001_0000_0000n), 'ORDER_OUT_OF_BOUNDS'],
    ['the reserved GPU bits set', withGpuWord(0x0100_0001_0000_0001n), 'MALFORMED_MEMO'],
    ['a zero amount', encodeOrderMemo({ ...memo, amount: 0n }), 'ORDER_OUT_OF_BOUNDS'],
    ['less than one unit per slot', encodeOrderMemo({ ...memo, amount: 9n }), 'ORDER_OUT_OF_BOUNDS'],
    ['100,001 slots', encodeOrderMemo({ ...memo, slots: 100_001, slotLength: 1 }), 'ORDER_OUT_OF_BOUNDS'],
    ['slots of more than a day', encodeOrderMemo({ ...memo, slotLength: 86_401 }), 'ORDER_OUT_OF_BOUNDS'],
    [
      'more than 366 days in all',
      encodeOrderMemo({ ...memo, slots: 100_000, slotLength: 317 }),
      'ORDER_OUT_OF_BOUNDS',
    ],
    [
      'the attack order: 1 unit for 2^31 one-second slots',
      encodeOrderMemo({ ...memo, slots: 2 ** 31 - 1, slotLength: 1, amount: 1n }),
      'ORDER_OUT_OF_BOUNDS',
    ],
    ['no payout address', encodeOrderMemo({ ...memo, payout: new Uint8Array(0) }), 'MALFORMED_MEMO'],
    [
      'a quote of zero sats',
      encodeOrderMemo({ ...memo, quote: { ...quote, satsPerE18: 0n } }),
      'MALFORMED_MEMO',
    ],
    [
      'a quote that lets the order lock nothing',
      encodeOrderMemo({ ...memo, quote: { ...quote, maxAmount: 0n } }),
      'MALFORMED_MEMO',
    ],
  ]
  for (const [what, text, reason] of bad) {
    it(`refuses ${what} with ${reason}`, () => {
      expect(decodeOrderMemo(text)).toEqual({ ok: false, reason })
    })
  }

  it('refuses an amount written with a leading zero byte (one encoding per order)', () => {
    const b = body(encodeOrderMemo(memo))
    const at = 1 + 16 + 32 + 16
    const padded = Buffer.concat([b.subarray(0, at), Buffer.of(b[at]! + 1, 0), b.subarray(at + 1)])
    expect(decodeOrderMemo(memoOf(padded))).toEqual({ ok: false, reason: 'MALFORMED_MEMO' })
  })

  it('binds the order id to chain, renter and salt', () => {
    const id = vaultOrderId('solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp', 'renterA', memo.salt)
    expect(id).toMatch(/^0x[0-9a-f]{64}$/)
    expect(vaultOrderId('solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp', 'renterB', memo.salt)).not.toBe(id)
    expect(vaultOrderId('cosmos:cosmoshub-4', 'renterA', memo.salt)).not.toBe(id)
    expect(vaultOrderId('solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp', 'renterA', memo.salt)).toBe(id)
  })
})
