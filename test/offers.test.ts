import { describe, expect, it } from 'vitest'
import type { BtcPayoutTerms, OrderTerms } from '../src/order.js'
import { offerMismatch } from '../src/registry/offers.js'
import { providerRecordSchema, type ProviderRecord } from '../src/registry/record.js'

const CHAIN = 'eip155:31337'
const PROVIDER_SCRIPT = `0014${'11'.repeat(20)}`
const RENTER_SCRIPT = `0014${'22'.repeat(20)}`
const H100 = (uuid: string, memoryTotalMiB = 81_559) => ({
  name: 'NVIDIA H100 80GB HBM3',
  uuid,
  memoryTotalMiB,
})
const record: Pick<ProviderRecord, 'payout' | 'prices' | 'btcScripts' | 'gpus'> = {
  payout: { [CHAIN]: '0x00000000000000000000000000000000000000Aa' },
  prices: [{ chain: CHAIN, token: 'native', gpuClass: 'hopper-h100', perSlot: '50', slotLength: 60 }],
  btcScripts: [PROVIDER_SCRIPT],
  gpus: [H100('GPU-a'), H100('GPU-b')],
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
    gpu: { class: 'hopper-h100', count: 2, minVramMiB: 80_000 },
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

describe('offerMismatch on GPUs', () => {
  const gpu = (over: Partial<OrderTerms['gpu']>) => terms({ gpu: { ...terms().gpu, ...over } })

  it('refuses an order for GPUs the record does not list: another class, more of them, or more memory', () => {
    expect(offerMismatch(record, gpu({ class: 'ada-rtx40' }))).toBe('GPU_NOT_OFFERED')
    expect(offerMismatch(record, gpu({ count: 3 }))).toBe('GPU_NOT_OFFERED')
    expect(offerMismatch(record, gpu({ minVramMiB: 81_560 }))).toBe('GPU_NOT_OFFERED')
    expect(offerMismatch({ ...record, gpus: [H100('GPU-a'), H100('GPU-a')] }, gpu({}))).toBe(
      'GPU_NOT_OFFERED',
    )
  })

  it('prices per GPU: two GPUs at 50 a slot each need 100 a slot', () => {
    expect(offerMismatch(record, terms({ amount: 1_000n }))).toBeUndefined()
    expect(offerMismatch(record, terms({ amount: 999n }))).toBe('BELOW_PRICE')
    expect(offerMismatch(record, terms({ amount: 500n, gpu: { ...terms().gpu, count: 1 } }))).toBeUndefined()
  })

  it('refuses a class the record lists GPUs of but prices nothing for', () => {
    const unpriced = { ...record, prices: [{ ...record.prices[0]!, gpuClass: 'hopper-h200' }] }
    expect(offerMismatch(unpriced, terms())).toBe('TOKEN_NOT_OFFERED')
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
