import {
  address,
  getAddressEncoder,
  getBase58Decoder,
  getBase64EncodedWireTransaction,
  getCompiledTransactionMessageDecoder,
  type Address,
  type Transaction,
} from '@solana/kit'
import { ed25519Verify } from '../../src/ed25519.js'
import type { OrderTerms } from '../../src/order.js'
import type { Settlement } from '../../src/settlement.js'
import type { ReleaseDraft, ReleaseMessages } from '../../src/vault/releaseFamily.js'
import type { Refuse } from '../../src/vault/refusals.js'
import { isBtcLeg, legPayments, type ReleaseLeg } from '../../src/vault/releaseLeg.js'
import { encodeBtcShareMemo, encodeReleaseMemo } from '../../src/vault/releaseMemo.js'
import type { SolanaChainConfig } from './config.js'
import type { SolanaKey } from './keys.js'
import { buildReleaseTransaction, type VaultRelease } from './release.js'
import type { SolanaStoredRelease } from './releaseSender.js'
import type { SolanaRound, SolanaVaultAccount } from './vaultAccount.js'

/** A release is one legacy transaction; nothing longer is a release. */
const MAX_MESSAGE_BYTES = 1_232
const hexOf = (bytes: ArrayLike<number>) => `0x${Buffer.from(Uint8Array.from(bytes)).toString('hex')}`
const bytesOf = (hex: string) => Uint8Array.from(Buffer.from(hex.replace(/^0x/, ''), 'hex'))
/** A Solana address as the 0x-hex ed25519 public key `ed25519Verify` takes. */
export const pubkeyHex = (account: string) => hexOf(getAddressEncoder().encode(address(account)))

/** A release transaction for one set of signers, unsigned; co-signers are sent its message bytes. */
export interface SolanaDraft extends ReleaseDraft {
  readonly tx: Transaction
  readonly nonce: string
}

/**
 * Both halves of the co-signing: the submitter builds the release on its own
 * durable nonce for a set of signers and asks them to sign its message bytes;
 * each co-signer rebuilds it from its own settlement, for the signers and the
 * nonce the message names, and signs only identical bytes.
 */
export function solanaReleaseMessages(o: {
  config: SolanaChainConfig
  key: SolanaKey
  account: SolanaVaultAccount
}): ReleaseMessages<SolanaRound, SolanaDraft, SolanaStoredRelease> {
  const self = o.key.address
  const draft = async (
    order: OrderTerms,
    settlement: Settlement,
    round: SolanaRound,
    signers: readonly string[],
    leg: ReleaseLeg,
  ): Promise<SolanaDraft> => {
    const tx = await buildReleaseTransaction(releaseOf(order, settlement, leg), {
      vault: address(o.config.vault),
      multisig: address(o.config.multisig),
      mint: address(o.config.mint),
      receiptMint: address(o.config.receiptMint),
      decimals: (await o.account.info()).decimals,
      signers: signers as Address[],
      nonceAccount: round.nonceAccount,
      nonce: round.nonce,
      memoProgram: o.config.memoProgram,
    })
    return { tx, nonce: round.nonce, request: Buffer.from(tx.messageBytes).toString('base64') }
  }
  return {
    draft,
    verify: (release, signer, signature) =>
      ed25519Verify(pubkeyHex(signer), Uint8Array.from(release.tx.messageBytes), signature),
    sign: (release) => Promise.resolve(o.key.signer.sign(Uint8Array.from(release.tx.messageBytes))),
    assemble(release, signatures) {
      const { tx } = release
      const full: Transaction = {
        ...tx,
        signatures: Object.fromEntries(
          Object.keys(tx.signatures).map((signer) => [signer, bytesOf(signatures.get(signer)!)]),
        ) as Transaction['signatures'],
      }
      return {
        wire: getBase64EncodedWireTransaction(full),
        signature: getBase58Decoder().decode(bytesOf(signatures.get(self)!)),
        nonce: release.nonce,
      }
    },
    async rebuild(order, settlement, message, refuse: Refuse, leg) {
      if (message.length > (MAX_MESSAGE_BYTES * 4) / 3 + 4) throw refuse('message too long')
      const bytes = Uint8Array.from(Buffer.from(message, 'base64'))
      let compiled
      try {
        compiled = getCompiledTransactionMessageDecoder().decode(bytes)
      } catch {
        throw refuse('not a transaction message')
      }
      if (compiled.version !== 'legacy') throw refuse('not a legacy message')
      const signers = compiled.staticAccounts.slice(0, compiled.header.numSignerAccounts)
      const { m, signers: allowed } = await o.account.info()
      if (signers.length !== m || !signers.every((signer) => allowed.includes(signer)))
        throw refuse("its signers are not a quorum of the vault's multisig")
      if (!signers.includes(self)) throw refuse('this relayer is not one of its signers')
      if (signers[0] === self) throw refuse('this relayer would pay for a release it did not build')
      const nonceAt = compiled.instructions[0]?.accountIndices?.[0]
      if (nonceAt === undefined) throw refuse('no durable nonce')
      const round: SolanaRound = {
        threshold: m,
        signers: allowed,
        nonceAccount: compiled.staticAccounts[nonceAt]!,
        nonce: compiled.lifetimeToken,
      }
      const rebuilt = await draft(order, settlement, round, signers, leg)
      if (!Buffer.from(rebuilt.tx.messageBytes).equals(Buffer.from(bytes)))
        throw refuse("it is not the release of this relayer's settlement")
      return rebuilt
    },
  }
}

/** The leg's payments, each to its wallet, zero shares left out; its receipt; its memo naming the order (and the payout that repaid the solver). */
function releaseOf(order: OrderTerms, settlement: Settlement, leg: ReleaseLeg): VaultRelease {
  return {
    orderId: order.id,
    payments: legPayments(order, settlement, leg)
      .filter((p) => p.amount > 0n)
      .map((p) => ({ owner: address(p.to), amount: p.amount })),
    receipt: isBtcLeg(leg) ? 'btc-share' : 'settlement',
    memo: isBtcLeg(leg)
      ? encodeBtcShareMemo(order.id, leg.kind === 'btc-solver' ? leg.btcTxid : undefined)
      : encodeReleaseMemo(order.id),
  }
}
