import { getAddressDecoder, getBase58Encoder, lamports, type Address } from '@solana/kit'
import { generateEd25519, type Ed25519Signer } from '../../src/ed25519.js'
import { signSolanaQuote } from '../../adapters/solana/btcQuote.js'
import { encodeOrderMemo, vaultOrderId, type VaultQuote } from '../../src/vault/orderMemo.js'
import { refundOrderId } from '../../src/vault/refund.js'
import { BTC_SHARE_MEMO_PREFIX, encodeReleaseMemo } from '../../src/vault/releaseMemo.js'
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
export async function startDevnetSolana(
  relayers: number,
  threshold: number,
  withSolver = false,
): Promise<DevnetSolana> {
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
  const solverKey = withSolver ? generateEd25519() : undefined
  const solver = solverKey && { seed: solverKey.seed, address: addressOf(solverKey.signer.publicKey) }
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
      ...(solver ? { solver } : {}),
    },
    token: bed.mint,
    async open(o) {
      const renter = await bed.renter(o.amount)
      const salt = crypto.getRandomValues(new Uint8Array(16))
      const orderId = vaultOrderId(DEVNET_SOLANA_CHAIN, renter.wallet.address, salt)
      if (o.btc && !solverKey) throw new Error('the devnet Solana vault was started without a solver')
      const quote =
        o.btc && solverKey && solver
          ? solanaQuote(solverKey.signer, solver.address, bed, orderId, o.amount, o.btc, o.start, o)
          : undefined
      const memo = encodeOrderMemo({
        salt,
        providerId: o.providerId,
        start: o.start,
        slotLength: o.slotLength,
        slots: o.slots,
        gpu: REFERENCE_ORDER_GPU,
        amount: o.amount,
        payout: Uint8Array.from(getBase58Encoder().encode(providerPayout)),
        ...(quote ? { quote } : {}),
      })
      const txHash = await bed.send([bed.transferChecked(renter, bed.vault, o.amount), bed.memo(memo)])
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
      const landed = (memo: string) => bed.rpc.ledger.find((r) => r.err === null && r.memo?.includes(memo))
      const record = landed(encodeReleaseMemo(orderId))
      if (!record) return Promise.resolve(undefined)
      // A share owed in BTC leaves the vault in a second release, to the solver (or, with no payout, the provider).
      const share = landed(`${BTC_SHARE_MEMO_PREFIX}${orderId.slice(2)}:`)
      return Promise.resolve({
        toProvider:
          gained(record, providerPayout) +
          (share ? gained(share, providerPayout) + gained(share, solver?.address) : 0n),
        toRenter: gained(record, renters.get(orderId)),
        fee: gained(record, feeRecipient),
        txHash: record.signature,
      })
    },
    stop: () => bed.stop(),
  }
}

/** What `owner`'s token account gained in a recorded transaction. */
function gained(record: { json: unknown }, owner: string | undefined): bigint {
  const meta = (
    record.json as { meta: { preTokenBalances: TokenBalance[]; postTokenBalances: TokenBalance[] } }
  ).meta
  const post = meta.postTokenBalances.find((b) => b.owner === owner)
  const pre = meta.preTokenBalances.find((b) => b.accountIndex === post?.accountIndex)
  return post ? BigInt(post.uiTokenAmount.amount) - BigInt(pre?.uiTokenAmount.amount ?? '0') : 0n
}

/** The devnet solver's quote for one order, as `qantara solver quote` signs it: for exactly this order, good for two minutes. */
function solanaQuote(
  signer: Ed25519Signer,
  solver: string,
  bed: { vault: string; mint: string },
  orderId: `0x${string}`,
  amount: bigint,
  btc: { script: string; satsPerE18: bigint; payoutDeadline: bigint },
  start: bigint,
  o: { slotLength: number; slots: number },
): VaultQuote {
  const terms = {
    script: Uint8Array.from(Buffer.from(btc.script, 'hex')),
    solver: Uint8Array.from(getBase58Encoder().encode(solver)),
    satsPerE18: btc.satsPerE18,
    payoutDeadline: btc.payoutDeadline,
    maxAmount: amount,
    openBy: BigInt(Math.floor(Date.now() / 1000)) + 120n,
    latestEnd: start + BigInt(o.slotLength * o.slots),
  }
  const signature = signSolanaQuote(
    signer,
    { chain: DEVNET_SOLANA_CHAIN, vault: bed.vault, orderId, token: bed.mint },
    terms,
  )
  return { ...terms, signature }
}

interface TokenBalance {
  accountIndex: number
  owner?: string
  uiTokenAmount: { amount: string }
}
