import {
  makeSignDoc,
  serializeSignDoc,
  type MultisigThresholdPubkey,
  type OfflineAminoSigner,
  type StdFee,
  type StdSignDoc,
} from '@cosmjs/amino'
import { fromBase64 } from '@cosmjs/encoding'
import { Registry } from '@cosmjs/proto-signing'
import {
  AminoTypes,
  GasPrice,
  calculateFee,
  createBankAminoConverters,
  defaultRegistryTypes,
  makeMultisignedTxBytes,
  type MsgSendEncodeObject,
} from '@cosmjs/stargate'
import type { Hex32 } from '../../src/order.js'
import type { CosmosChainConfig } from './config.js'
import { cosmosVerify } from './keys.js'

const aminoTypes = new AminoTypes(createBankAminoConverters())
const registry = new Registry(defaultRegistryTypes)

/** One leg of an order's release: each non-zero share to its address, in one denom, under the leg's memo (`src/vault/releaseMemo.ts`). */
export interface CosmosRelease {
  orderId: Hex32
  denom: string
  payments: { to: string; amount: bigint }[]
  memo: string
}

/**
 * The vault account as a release is signed for: its multisig key, the account
 * number and the sequence the release takes, its fee, and the last height it
 * may be included at (after which it can never land).
 */
export interface CosmosVaultState {
  chainId: string
  address: string
  pubkey: MultisigThresholdPubkey
  accountNumber: number
  sequence: number
  fee: StdFee
  timeoutHeight: bigint
}

/** The release's messages: one MsgSend from the vault per non-zero share, in the order given. */
export function releaseMessages(r: CosmosRelease, vault: string): MsgSendEncodeObject[] {
  return r.payments
    .filter((p) => p.amount > 0n)
    .map((p) => ({
      typeUrl: '/cosmos.bank.v1beta1.MsgSend',
      value: {
        fromAddress: vault,
        toAddress: p.to,
        amount: [{ denom: r.denom, amount: p.amount.toString() }],
      },
    }))
}

/** The amino-JSON document every signer of the release signs: the same on every member that holds the same settlement. */
export function releaseSignDoc(r: CosmosRelease, v: CosmosVaultState): StdSignDoc {
  const msgs = releaseMessages(r, v.address).map((m) => aminoTypes.toAmino(m))
  return makeSignDoc(msgs, v.fee, v.chainId, r.memo, v.accountNumber, v.sequence, v.timeoutHeight)
}

/** The transaction body the sign document stands for. */
export function releaseBody(r: CosmosRelease, v: CosmosVaultState): Uint8Array {
  return registry.encodeTxBody({
    messages: releaseMessages(r, v.address),
    memo: r.memo,
    timeoutHeight: v.timeoutHeight,
  })
}

/** One member's 64-byte amino-JSON signature over the release. */
export async function signRelease(
  signer: OfflineAminoSigner,
  member: string,
  r: CosmosRelease,
  v: CosmosVaultState,
): Promise<Uint8Array> {
  const doc = releaseSignDoc(r, v)
  const { signed, signature } = await signer.signAmino(member, doc)
  // A signer may rewrite what it signs (fees, memo); a release is only what was asked for.
  if (Buffer.compare(serializeSignDoc(signed), serializeSignDoc(doc)) !== 0)
    throw new Error('the signer changed the release document')
  return fromBase64(signature.signature)
}

/** Whether `signature` is the holder of compressed `pubkey`'s signature over the release. */
export function verifyReleaseSignature(
  pubkey: Uint8Array,
  r: CosmosRelease,
  v: CosmosVaultState,
  signature: Uint8Array,
): boolean {
  return cosmosVerify(pubkey, serializeSignDoc(releaseSignDoc(r, v)), signature)
}

/** The multisig transaction from members' signatures over the same release, keyed by member address. */
export function assembleRelease(
  r: CosmosRelease,
  v: CosmosVaultState,
  signatures: Map<string, Uint8Array>,
): Uint8Array {
  return makeMultisignedTxBytes(v.pubkey, v.sequence, v.fee, releaseBody(r, v), signatures)
}

/** The fee of one release at the configured gas price; nothing at a price of zero (a zero coin is not a valid fee). */
export function releaseFee(c: Pick<CosmosChainConfig, 'gasPrice' | 'gasLimit'>): StdFee {
  const f = calculateFee(c.gasLimit, GasPrice.fromString(c.gasPrice))
  return { amount: f.amount.filter((a) => a.amount !== '0'), gas: f.gas }
}
