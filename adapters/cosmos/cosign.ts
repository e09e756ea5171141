import { serializeSignDoc, type StdFee } from '@cosmjs/amino'
import { fromBase64, toBase64 } from '@cosmjs/encoding'
import { sha256 } from '@noble/hashes/sha2'
import { z } from 'zod'
import type { OrderTerms } from '../../src/order.js'
import type { Settlement } from '../../src/settlement.js'
import { alreadyReleased, type Refuse } from '../../src/vault/refusals.js'
import { isRefundOrder } from '../../src/vault/refund.js'
import { isBtcLeg, legPayments, type ReleaseLeg } from '../../src/vault/releaseLeg.js'
import { encodeBtcShareMemo, encodeReleaseMemo } from '../../src/vault/releaseMemo.js'
import type { ReleaseDraft, ReleaseMessages } from '../../src/vault/releaseFamily.js'
import type { CosmosChainConfig } from './config.js'
import type { CosmosKey } from './keys.js'
import {
  assembleRelease,
  releaseSignDoc,
  signRelease,
  verifyReleaseSignature,
  type CosmosRelease,
  type CosmosVaultState,
} from './release.js'
import type { CosmosStoredRelease } from './releaseSender.js'
import type { CosmosRound, CosmosVaultAccount } from './vaultAccount.js'

/** A co-signing request is a small JSON document; nothing longer is one. */
const MAX_REQUEST_CHARS = 1_024
const hexOf = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
const txHashOf = (tx: Uint8Array) => hexOf(sha256(tx)).toUpperCase()

/** What a co-signer is asked to sign: the vault's account and sequence, the release's lifetime and fee, and the hash of the document the submitter built. */
const cosignRequest = z.strictObject({
  v: z.literal(1),
  accountNumber: z.number().int().nonnegative(),
  sequence: z.number().int().nonnegative(),
  timeoutHeight: z.string().regex(/^\d{1,19}$/),
  fee: z.strictObject({
    amount: z
      .array(z.strictObject({ denom: z.string().max(128), amount: z.string().regex(/^\d{1,40}$/) }))
      .max(4),
    gas: z.string().regex(/^\d{1,19}$/),
  }),
  doc: z.string().regex(/^[0-9a-f]{64}$/),
})

/** The release of a settlement, for the vault at one sequence; co-signers are sent a request naming it. */
export interface CosmosDraft extends ReleaseDraft {
  readonly release: CosmosRelease
  readonly vault: CosmosVaultState
}

export interface CosmosMessagesOptions {
  config: CosmosChainConfig
  key: CosmosKey
  fee: StdFee
  vault: CosmosVaultAccount
  /** Each multisig signer's address → its compressed public key. */
  signerKeys: ReadonlyMap<string, Uint8Array>
}

/**
 * Both halves of the co-signing: any threshold of amino-JSON signatures over
 * one sign document completes a release, so the submitter sends the document's
 * hash with the vault state it is for; a co-signer checks that state against
 * the chain and its own store, rebuilds the document from its own settlement
 * and signs only an identical one.
 */
export function cosmosReleaseMessages(
  o: CosmosMessagesOptions,
): ReleaseMessages<CosmosRound, CosmosDraft, CosmosStoredRelease> {
  const self = o.key.address
  const releaseOf = (order: OrderTerms, settlement: Settlement, leg: ReleaseLeg) =>
    cosmosReleaseOf(order, settlement, o.fee, leg, o.config.vault)
  return {
    draft(order, settlement, round, _signers, leg) {
      const release = releaseOf(order, settlement, leg)
      const { vault } = round
      const request = {
        v: 1,
        accountNumber: vault.accountNumber,
        sequence: vault.sequence,
        timeoutHeight: vault.timeoutHeight.toString(),
        fee: vault.fee,
        doc: docHash(release, vault),
      }
      return Promise.resolve({
        release,
        vault,
        request: Buffer.from(JSON.stringify(request)).toString('base64'),
      })
    },
    verify: (draft, signer, signature) =>
      verifyReleaseSignature(o.signerKeys.get(signer)!, draft.release, draft.vault, fromBase64(signature)),
    sign: async (draft) =>
      toBase64(await signRelease(await o.key.aminoSigner(), self, draft.release, draft.vault)),
    assemble(draft, signatures) {
      const tx = assembleRelease(
        draft.release,
        draft.vault,
        new Map([...signatures].map(([signer, signature]) => [signer, fromBase64(signature)])),
      )
      return {
        tx: toBase64(tx),
        hash: txHashOf(tx),
        sequence: draft.vault.sequence,
        timeoutHeight: draft.vault.timeoutHeight.toString(),
      }
    },
    rebuild: (order, settlement, message, refuse, leg) =>
      rebuild(o, order, leg, releaseOf(order, settlement, leg), message, refuse),
  }
}

/** The co-signer's checks of a request, in the order they cost: itself, the request, the vault on chain, its own store, the document. */
async function rebuild(
  o: CosmosMessagesOptions,
  order: OrderTerms,
  leg: ReleaseLeg,
  release: CosmosRelease,
  message: string,
  refuse: Refuse,
): Promise<CosmosDraft> {
  if (!o.signerKeys.has(o.key.address)) throw refuse("this relayer is not a signer of the vault's multisig")
  if (message.length > MAX_REQUEST_CHARS) throw refuse('request too long')
  let request: z.infer<typeof cosignRequest>
  try {
    request = cosignRequest.parse(JSON.parse(Buffer.from(message, 'base64').toString('utf8')))
  } catch {
    throw refuse('not a release request')
  }
  if (!sameFee(request.fee, o.fee))
    throw refuse(
      `its fee is not this relayer's (${o.fee.gas} gas for ${o.fee.amount.map((a) => a.amount + a.denom).join(',') || 'nothing'})`,
    )
  const seen = BigInt(await o.vault.height())
  const { accountNumber, sequence } = await o.vault.account()
  if (request.accountNumber !== accountNumber) throw refuse("it is not for the vault's account")
  // Only the sequence the vault is at now: everything that could have landed before it is on chain to check.
  if (request.sequence !== sequence)
    throw refuse(`sequence ${request.sequence} is not the vault's current ${sequence}`)
  const timeoutHeight = BigInt(request.timeoutHeight)
  if (timeoutHeight <= seen || timeoutHeight > seen + BigInt(o.config.timeoutBlocks) + 10n)
    throw refuse('its timeout height is out of range')
  const state = await o.vault.releasedBefore(order.id, sequence, leg)
  if (state === 'released') throw alreadyReleased(order.id)
  if (state === 'behind') throw refuse("this relayer has not yet read the vault's last transaction")
  const vault = o.vault.stateAt(accountNumber, sequence, timeoutHeight)
  if (docHash(release, vault) !== request.doc)
    throw refuse("it is not the release of this relayer's settlement")
  return { release, vault, request: message }
}

/**
 * One order's release: the settlement's shares, in the order's denom. A refund pays its own release fee out of
 * itself: all of it when the refund is in the fee's denom and larger than the fee, so the fee reserve pays for
 * nobody's stray deposit (security review 2026-12, section 10). Refunds in other denoms are kept above the dust
 * line by `minRefund` instead.
 */
export function cosmosReleaseOf(
  order: OrderTerms,
  settlement: Settlement,
  fee: StdFee,
  leg: ReleaseLeg,
  vault: string,
): CosmosRelease {
  if (isBtcLeg(leg))
    return {
      orderId: order.id,
      denom: order.token,
      payments: legPayments(order, settlement, leg),
      memo: encodeBtcShareMemo(order.id, leg.kind === 'btc-solver' ? leg.btcTxid : undefined),
    }
  const own =
    fee.amount.length === 1 && fee.amount[0]!.denom === order.token ? BigInt(fee.amount[0]!.amount) : 0n
  const refundPaysFee =
    isRefundOrder(order) && settlement.toProvider === 0n && settlement.fee === 0n && settlement.toRenter > own
      ? own
      : 0n
  const [provider, fees, renter] = legPayments(order, settlement, leg)
  const payments = [provider!, fees!, { ...renter!, amount: renter!.amount - refundPaysFee }]
  return {
    orderId: order.id,
    denom: order.token,
    // A transaction needs a message: a leg that pays nothing (an order owed wholly in BTC, with no fee) sends one
    // unit from the vault to itself, which only the multisig can sign and every watcher reads as the release.
    payments: payments.some((p) => p.amount > 0n) ? payments : [{ to: vault, amount: 1n }],
    memo: encodeReleaseMemo(order.id),
  }
}

const docHash = (release: CosmosRelease, vault: CosmosVaultState) =>
  hexOf(sha256(serializeSignDoc(releaseSignDoc(release, vault))))

function sameFee(a: StdFee, b: StdFee): boolean {
  return (
    a.gas === b.gas &&
    a.amount.length === b.amount.length &&
    a.amount.every((x, i) => x.denom === b.amount[i]!.denom && x.amount === b.amount[i]!.amount)
  )
}
