import type { Address } from '@solana/kit'
import type { VaultRelease } from '../../adapters/solana/release.js'
import type { Hex32 } from '../../src/order.js'
import { encodeReleaseMemo } from '../../src/vault/releaseMemo.js'

/** A settlement release of three shares, as the runtime builds one (zero shares left out), with the wallets named for the test's checks. */
export type ThreeShares = VaultRelease & { provider: Address; renter: Address; feeRecipient: Address }

export function threeShares(s: {
  orderId: Hex32
  provider: Address
  toProvider: bigint
  renter: Address
  toRenter: bigint
  feeRecipient: Address
  fee: bigint
}): ThreeShares {
  const payments = [
    { owner: s.provider, amount: s.toProvider },
    { owner: s.feeRecipient, amount: s.fee },
    { owner: s.renter, amount: s.toRenter },
  ].filter((p) => p.amount > 0n)
  return {
    orderId: s.orderId,
    payments,
    receipt: 'settlement',
    memo: encodeReleaseMemo(s.orderId),
    provider: s.provider,
    renter: s.renter,
    feeRecipient: s.feeRecipient,
  }
}
