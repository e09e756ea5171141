import { describe, expect, it } from 'vitest'
import { getAddressDecoder } from '@solana/kit'
import { toBech32 } from '@cosmjs/encoding'
import { vaultOrderMemo, type VaultMemoOptions } from '../src/app/cli/vaultMemo.js'
import { decodeOrderMemo, vaultOrderId } from '../src/vault/orderMemo.js'
import { isQantaraError } from '../src/errors.js'

const raw = (byte: number, n: number) => new Uint8Array(n).fill(byte)
const solana = (byte: number) => getAddressDecoder().decode(raw(byte, 32))
const terms = (over: Partial<VaultMemoOptions>): VaultMemoOptions => ({
  chain: 'solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp',
  renter: solana(1),
  provider: `0x${'ab'.repeat(32)}`,
  amount: '5000000',
  slots: 6,
  gpu: { class: 'hopper-h100', count: 2, minVramMiB: 80_000 },
  slotLength: 60,
  start: '+300',
  payout: solana(2),
  ...over,
})
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (err: unknown) => (isQantaraError(err, 'CONFIG_INVALID') ? err.message : String(err)),
  )

describe('qantara order memo', () => {
  it('prints the memo the watcher reads back to the same terms, and the id of this renter and salt', async () => {
    const m = await vaultOrderMemo(terms({ salt: '0x' + '07'.repeat(16) }), 1_800_000_000n)
    const read = decodeOrderMemo(m.memo)
    expect(read.ok && read.memo).toEqual({
      salt: raw(7, 16),
      providerId: `0x${'ab'.repeat(32)}`,
      start: 1_800_000_300n,
      slotLength: 60,
      slots: 6,
      gpu: { class: 'hopper-h100', count: 2, minVramMiB: 80_000 },
      amount: 5_000_000n,
      payout: raw(2, 32),
    })
    expect(m.orderId).toBe(vaultOrderId('solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp', solana(1), raw(7, 16)))
    const cosmos = await vaultOrderMemo(
      terms({
        chain: 'cosmos:cosmoshub-4',
        renter: toBech32('cosmos', raw(3, 20)),
        payout: toBech32('cosmos', raw(4, 32)),
      }),
    )
    const readCosmos = decodeOrderMemo(cosmos.memo)
    expect(readCosmos.ok && readCosmos.memo.payout).toEqual(raw(4, 32))
  })

  it('refuses terms no vault could open, before anything is sent', async () => {
    expect(await refusal(vaultOrderMemo(terms({ chain: 'eip155:1' })))).toContain(
      'eip155:1 is not a vault chain',
    )
    expect(await refusal(vaultOrderMemo(terms({ amount: '12.5' })))).toContain(
      '--amount is an integer of the smallest unit',
    )
    expect(
      await refusal(vaultOrderMemo(terms({ payout: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' }))),
    ).toContain('is not a base58 Solana address')
    expect(
      await refusal(
        vaultOrderMemo(
          terms({
            chain: 'cosmos:cosmoshub-4',
            renter: 'cosmos1notbech32',
            payout: toBech32('cosmos', raw(4, 20)),
          }),
        ),
      ),
    ).toContain('is not a bech32 address')
    expect(await refusal(vaultOrderMemo(terms({ slots: 0 })))).toContain("a memo the vault's watcher refuses")
    expect(
      await refusal(vaultOrderMemo(terms({ start: '0', slots: 1, slotLength: 1 }), 1_800_000_000n)),
    ).toContain('ORDER_ALREADY_ENDED')
    expect(await refusal(vaultOrderMemo(terms({ salt: '0x1234' })))).toContain(
      '--salt must be 16 bytes of hex',
    )
    expect(await refusal(vaultOrderMemo(terms({ payout: undefined })))).toContain('give --relayer')
  })
})
