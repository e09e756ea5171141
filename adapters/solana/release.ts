import { createHash } from 'node:crypto'
import {
  address,
  appendTransactionMessageInstructions,
  compileTransaction,
  createNoopSigner,
  createTransactionMessage,
  getAddressDecoder,
  pipe,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingDurableNonce,
  type Address,
  type Instruction,
  type Nonce,
  type Transaction,
} from '@solana/kit'
import {
  TOKEN_PROGRAM_ADDRESS,
  findAssociatedTokenPda,
  getCreateAssociatedTokenIdempotentInstruction,
  getFreezeAccountInstruction,
  getTransferCheckedInstruction,
} from '@solana-program/token'
import type { Hex32 } from '../../src/order.js'
import { MEMO_PROGRAM } from './watcher.js'

/** One leg of an order's release: what each wallet's token account is paid (none of it zero), its receipt and its memo. */
export interface VaultRelease {
  orderId: Hex32
  payments: { owner: Address; amount: bigint }[]
  /** The once-only receipt it freezes: the settlement leg's, or the BTC-owed share's (to the solver or to the provider, once). */
  receipt: ReceiptKind
  memo: string
}

export type ReceiptKind = 'settlement' | 'btc-share'

const RECEIPT_DOMAINS: Record<ReceiptKind, string> = {
  settlement: 'qantara/vault-release/v1',
  'btc-share': 'qantara/vault-btc-share/v1',
}

/** Where a release is paid from and who signs it: the round's multisig signers, the first paying fees and advancing its durable nonce. */
export interface ReleaseAuthority {
  vault: Address
  multisig: Address
  mint: Address
  /** The vault's receipt mint (freeze authority: `multisig`): the release freezes its receipt account of this mint. */
  receiptMint: Address
  decimals: number
  /** Exactly `threshold` multisig members; signers[0] pays the fee and is the nonce authority. */
  signers: Address[]
  nonceAccount: Address
  /** The nonce account's current value: the message's lifetime, so gathering signatures cannot outlive a blockhash. */
  nonce: string
  memoProgram?: string
}

/**
 * The account whose freezing makes a release once-only: the associated token
 * account, for the vault's receipt mint, of an owner derived from the order
 * id. The vault is a plain token account with no state per order, so without
 * it two messages for one order (another round, another nonce) could both
 * land; with it the second fails as a whole, because freezing a frozen
 * account fails (InvalidState).
 *
 * Its existence means nothing: anyone may create it (security review
 * 2026-12, section 2: a pre-created receipt froze deposits for good when
 * creation was the marker). Only the receipt mint's freeze authority, the
 * vault's multisig, can freeze it, in the same transaction as the payout.
 */
export async function releaseReceipt(
  orderId: Hex32,
  receiptMint: Address,
  kind: ReceiptKind = 'settlement',
): Promise<Address> {
  const [ata] = await findAssociatedTokenPda({
    owner: receiptOwner(orderId, kind),
    mint: receiptMint,
    tokenProgram: TOKEN_PROGRAM_ADDRESS,
  })
  return ata
}

/** 32 bytes from the order id: an owner no key holds, so the receipt can never be closed, emptied or handed over. */
export function receiptOwner(orderId: Hex32, kind: ReceiptKind = 'settlement'): Address {
  return getAddressDecoder().decode(
    createHash('sha256')
      .update(RECEIPT_DOMAINS[kind])
      .update(Buffer.from(orderId.slice(2), 'hex'))
      .digest(),
  )
}

/**
 * The release transaction, unsigned, built only from the settlement and the
 * round's authority: every relayer that builds it gets the same message
 * bytes, which is what they sign. Zero shares are left out by the caller.
 */
export async function buildReleaseTransaction(r: VaultRelease, a: ReleaseAuthority): Promise<Transaction> {
  const payer = createNoopSigner(a.signers[0]!)
  const multiSigners = a.signers.map((s) => createNoopSigner(s))
  const receipt = await releaseReceipt(r.orderId, a.receiptMint, r.receipt)
  const instructions: Instruction[] = [
    // Idempotent: a receipt someone else created is harmless; the freeze is what only this release can do.
    getCreateAssociatedTokenIdempotentInstruction({
      payer,
      ata: receipt,
      owner: receiptOwner(r.orderId, r.receipt),
      mint: a.receiptMint,
    }),
    getFreezeAccountInstruction({ account: receipt, mint: a.receiptMint, owner: a.multisig, multiSigners }),
  ]
  const transfer = (destination: Address, amount: bigint) =>
    getTransferCheckedInstruction({
      source: a.vault,
      mint: a.mint,
      destination,
      authority: a.multisig,
      amount,
      decimals: a.decimals,
      multiSigners,
    })
  for (const { owner, amount } of r.payments) {
    const [ata] = await findAssociatedTokenPda({ owner, mint: a.mint, tokenProgram: TOKEN_PROGRAM_ADDRESS })
    instructions.push(
      getCreateAssociatedTokenIdempotentInstruction({ payer, ata, owner, mint: a.mint }),
      transfer(ata, amount),
    )
  }
  // A leg that pays nothing (an order owed wholly in BTC, with no fee) still moves the vault, by nothing, to itself:
  // only the multisig can, and it puts the release in the vault's history, where every watcher reads it.
  if (r.payments.length === 0) instructions.push(transfer(a.vault, 0n))
  instructions.push({
    programAddress: address(a.memoProgram ?? MEMO_PROGRAM),
    data: new TextEncoder().encode(r.memo),
  })
  const message = pipe(
    createTransactionMessage({ version: 'legacy' }),
    (m) => setTransactionMessageFeePayerSigner(payer, m),
    (m) =>
      setTransactionMessageLifetimeUsingDurableNonce(
        {
          nonce: a.nonce as Nonce,
          nonceAccountAddress: a.nonceAccount,
          nonceAuthorityAddress: a.signers[0]!,
        },
        m,
      ),
    (m) => appendTransactionMessageInstructions(instructions, m),
  )
  return compileTransaction(message)
}
