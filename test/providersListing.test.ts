import { describe, expect, it } from 'vitest'
import { sortListing } from '../src/app/cli/providers.js'
import { generateEd25519 } from '../src/ed25519.js'
import { providerRecordBytes, type ProviderRecord } from '../src/registry/record.js'

const NOW = 1_800_000_000
const key = generateEd25519().signer
const record = (seq: number, perSlot: string): ProviderRecord => ({
  v: 1,
  providerId: key.publicKey,
  url: 'https://gpu.example.org',
  gpus: [],
  payout: { 'eip155:1': '0x90F79bf6EB2c4f870365E785982E1f101E93b906' },
  prices: [{ chain: 'eip155:1', token: 'native', gpuClass: 'hopper-h100', perSlot, slotLength: 60 }],
  seq,
  expiresAt: NOW + 3_600,
})
const signed = (r: ProviderRecord) => ({ record: r, signature: key.sign(providerRecordBytes(r)) })

describe('providers list: what a relayer served, sorted into offers and refusals', () => {
  it('judges a provider by its latest record only: an older, cheaper one it replaced is no offer', () => {
    const listing = sortListing(
      [signed(record(1, '100')), signed(record(2, '5000'))],
      { maxPricePerSlot: 1_000n },
      NOW,
    )
    expect(listing.offers).toEqual([])
    expect(listing.refused.map((r) => r.reason).sort()).toEqual(['NOT_ASKED_FOR', 'SUPERSEDED'])
    const cheapLatest = sortListing(
      [signed(record(2, '100')), signed(record(1, '5000'))],
      { maxPricePerSlot: 1_000n },
      NOW,
    )
    expect(cheapLatest.offers.map((r) => r.seq)).toEqual([2])
  })
})
