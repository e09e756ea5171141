import { describe, expect, it } from 'vitest'
import type { BtcPayoutTerms, OrderTerms } from '../src/order.js'
import { offerMismatch } from '../src/registry/offers.js'
import { providerRecordSchema, type ProviderRecord } from '../src/registry/record.js'

const CHAIN = 'eip155:31337'
const PROVIDER_SCRIPT = `0014${'11'.repeat(20)}`
const RENTER_SCRIPT = `0014${'22'.repeat(20)}`
const record: Pick<ProviderRecord, 'payout' | 'prices' | 'btcScripts'> = {
  payout: { [CHAIN]: '0x00000000000000000000000000000000000000Aa' },
  prices: [{ chain: CHAIN, token: 'native', perSlot: '100', slotLength: 60 }],
  btcScripts: [PROVIDER_SCRIPT],
}
const btc = (script: string): BtcPayoutTerms => ({
  script,
  solver: '0x0000000000000000000000000000000000000005',
  satsPerE18: 1_000_000n,
  payoutDeadline: 10_000n,
  maxAmount: 10n ** 18n,
  openBy: 100n,
  latestEnd: 9_000n,
})
const terms = (t: Partial<OrderTerms> = {}) =>
  ({
    chain: CHAIN,
    token: 'native',
    payout: '0x00000000000000000000000000000000000000aa',
    amount: 1_000n,
    slots: 10,
    slotLength: 60,
    ...t,
  }) as OrderTerms

describe('offerMismatch', () => {
  it("accepts an order on the record's terms, paid on the escrow chain or in BTC to a script the record lists", () => {
    expect(offerMismatch(record, terms())).toBeUndefined()
    expect(offerMismatch(record, terms({ btc: btc(PROVIDER_SCRIPT) }))).toBeUndefined()
  })

  it("refuses a BTC order paying the provider's share to the renter's own script, though its fallback payout is the provider's", () => {
    expect(offerMismatch(record, terms({ btc: btc(RENTER_SCRIPT) }))).toBe('BTC_SCRIPT_NOT_OFFERED')
  })

  it('refuses every BTC order of a provider whose record lists no script', () => {
    expect(offerMismatch({ ...record, btcScripts: undefined }, terms({ btc: btc(PROVIDER_SCRIPT) }))).toBe(
      'BTC_SCRIPT_NOT_OFFERED',
    )
    expect(offerMismatch({ ...record, btcScripts: [] }, terms({ btc: btc(PROVIDER_SCRIPT) }))).toBe(
      'BTC_SCRIPT_NOT_OFFERED',
    )
  })

  it('checks the escrow-chain payout first, and the price after the script', () => {
    expect(
      offerMismatch(
        record,
        terms({ payout: '0x00000000000000000000000000000000000000bb', btc: btc(RENTER_SCRIPT) }),
      ),
    ).toBe('PAYOUT_NOT_OFFERED')
    expect(offerMismatch(record, terms({ amount: 999n, btc: btc(PROVIDER_SCRIPT) }))).toBe('BELOW_PRICE')
  })
})

describe('provider record btcScripts', () => {
  const base = {
    v: 1,
    providerId: `0x${'ab'.repeat(32)}`,
    url: 'https://gpu.example.org',
    gpus: [],
    payout: {},
    prices: [],
    seq: 1,
    expiresAt: 2_000_000_000,
  }
  const problems = (btcScripts: unknown) => {
    const r = providerRecordSchema.safeParse({ ...base, btcScripts })
    return r.success ? [] : r.error.issues.map((i) => i.path.join('.'))
  }

  it('holds at most four lower-case hex scripts of at most 80 bytes, and may be absent', () => {
    expect(providerRecordSchema.safeParse(base).success).toBe(true)
    expect(problems([PROVIDER_SCRIPT, 'aa'.repeat(80)])).toEqual([])
    expect(problems(Array(5).fill(PROVIDER_SCRIPT))).toEqual(['btcScripts'])
    expect(problems(['aa'.repeat(81)])).toEqual(['btcScripts.0'])
    expect(problems([`0014${'AB'.repeat(20)}`])).toEqual(['btcScripts.0'])
    expect(problems([`0x${PROVIDER_SCRIPT}`])).toEqual(['btcScripts.0'])
    expect(problems(['abc'])).toEqual(['btcScripts.0'])
  })
})
