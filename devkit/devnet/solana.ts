import { getAddressDecoder, getBase58Encoder, lamports, type Address } from '@solana/kit'
import { generateEd25519 } from '../../src/ed25519.js'
import { encodeOrderMemo, vaultOrderId } from '../../src/vault/orderMemo.js'
import { refundOrderId } from '../../src/vault/refund.js'
import { encodeReleaseMemo } from '../../src/vault/releaseMemo.js'
import type { DevnetVault } from './vault.js'
import type { LocalSolana } from '../localMarket.js'
import { REFERENCE_ORDER_GPU } from '../gpu/referenceGpu.js'

/** The devnet's Solana: litesvm behind the test RPC server (there is no local validator here). */
export const DEVNET_SOLANA_CHAIN = 'solana:litesvm'

export interface DevnetSolana extends DevnetVault {
  /** `receiptMint` goes into each relayer's Solana chain config beside `multisig`. */
  local: LocalSolana & { receiptMint: string }
}

/** A vault on litesvm for `relayers` relayer keys, `threshold` of them, each with SOL and its own durable nonce, and its receipt mint. */
export async function startDevnetSolana(relayers: number, threshold: number): Promise<DevnetSolana> {
  // litesvm is a native development module: loaded only when the devnet asks for Solana.
  const { startSolanaVault } = await import('../chains/solanaVault.js')
  const keys = Array.from({ length: relayers }, () => generateEd25519())
  const addressOf = (publicKey: string) => getAddressDecoder().decode(Buffer.from(publicKey.slice(2), 'hex'))
  const addresses = keys.map((k) => addressOf(k.signer.publicKey))
  const bed = await startSolanaVault(addresses, threshold)
  const withNonces = []
  for (const [i, a] of addresses.entries()) {
    bed.rpc.svm.airdrop(a, lamports(10_000_000_000n))
    withNonces.push({ seed: keys[i]!.seed, address: a, nonceAccount: await bed.nonceAccount(a) })
  }
  const wallet = () => addressOf(generateEd25519().signer.publicKey)
  const [feeRecipient, providerPayout] = [wallet(), wallet()]
  const renters = new Map<string, Address>()
  return {
    local: {
      chain: DEVNET_SOLANA_CHAIN,
      rpcUrl: bed.rpc.url,
      vault: bed.vault,
      mint: bed.mint,
      multisig: bed.multisig,
      receiptMint: bed.receiptMint,
      keys: withNonces,
      feeRecipient,
      providerPayout,
    },
    token: bed.mint,
    async open(o) {
      const renter = await bed.renter(o.amount)
      const salt = crypto.getRandomValues(new Uint8Array(16))
      const memo = encodeOrderMemo({
        salt,
        providerId: o.providerId,
        start: o.start,
        slotLength: o.slotLength,
        slots: o.slots,
        gpu: REFERENCE_ORDER_GPU,
        amount: o.amount,
        payout: Uint8Array.from(getBase58Encoder().encode(providerPayout)),
      })
      const txHash = await bed.send([bed.transferChecked(renter, bed.vault, o.amount), bed.memo(memo)])
      const orderId = vaultOrderId(DEVNET_SOLANA_CHAIN, renter.wallet.address, salt)
      renters.set(orderId, renter.wallet.address)
      return { orderId, txHash }
    },
    async stray(amount) {
      const renter = await bed.renter(amount)
      const txHash = await bed.send([bed.transferChecked(renter, bed.vault, amount)])
      const orderId = refundOrderId(DEVNET_SOLANA_CHAIN, txHash)
      renters.set(orderId, renter.wallet.address)
      return { orderId, txHash }
    },
    released(orderId) {
      const record = bed.rpc.ledger.find(
        (r) => r.err === null && r.memo?.includes(encodeReleaseMemo(orderId)),
      )
      if (!record) return Promise.resolve(undefined)
      const meta = (
        record.json as { meta: { preTokenBalances: TokenBalance[]; postTokenBalances: TokenBalance[] } }
      ).meta
      const gained = (owner: string | undefined) => {
        const post = meta.postTokenBalances.find((b) => b.owner === owner)
        const pre = meta.preTokenBalances.find((b) => b.accountIndex === post?.accountIndex)
        return post ? BigInt(post.uiTokenAmount.amount) - BigInt(pre?.uiTokenAmount.amount ?? '0') : 0n
      }
      return Promise.resolve({
        toProvider: gained(providerPayout),
        toRenter: gained(renters.get(orderId)),
        fee: gained(feeRecipient),
        txHash: record.signature,
      })
    },
    stop: () => bed.stop(),
  }
}

interface TokenBalance {
  accountIndex: number
  owner?: string
  uiTokenAmount: { amount: string }
}
