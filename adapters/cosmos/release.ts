import type { MultisigThresholdPubkey, OfflineAminoSigner, StdFee } from '@cosmjs/amino'
import { SigningStargateClient, makeMultisignedTxBytes, type MsgSendEncodeObject } from '@cosmjs/stargate'
import type { Hex32 } from '../../src/order.js'

/** The memo a release carries, so the vault's history names the order it paid. */
export const RELEASE_MEMO_PREFIX = 'qrel1:'

/** One order's release: each non-zero share to its address, in one denom. */
export interface CosmosRelease {
  orderId: Hex32
  denom: string
  payments: { to: string; amount: bigint }[]
}

/** The vault account as a release is signed for: its multisig key, and the account number and sequence the chain holds for it. */
export interface CosmosVaultState {
  chainId: string
  address: string
  pubkey: MultisigThresholdPubkey
  accountNumber: number
  sequence: number
  fee: StdFee
}

/** The release's messages: one MsgSend from the vault per non-zero share, in the order given. */
export function releaseMessages(r: CosmosRelease, vault: string): MsgSendEncodeObject[] {
  return r.payments.filter((p) => p.amount > 0n).map((p) => ({
    typeUrl: '/cosmos.bank.v1beta1.MsgSend',
    value: { fromAddress: vault, toAddress: p.to, amount: [{ denom: r.denom, amount: p.amount.toString() }] },
  }))
}

export const releaseMemo = (orderId: Hex32) => `${RELEASE_MEMO_PREFIX}${orderId.slice(2)}`

/**
 * One member's amino-JSON signature over the release at the vault's sequence.
 * The body bytes come out the same on every member: they are built from the
 * messages and the memo alone.
 */
export async function signRelease(signer: OfflineAminoSigner, member: string, r: CosmosRelease, v: CosmosVaultState): Promise<{ bodyBytes: Uint8Array; signature: Uint8Array }> {
  const client = await SigningStargateClient.offline(signer)
  const raw = await client.sign(member, releaseMessages(r, v.address), v.fee, releaseMemo(r.orderId), { accountNumber: v.accountNumber, sequence: v.sequence, chainId: v.chainId })
  return { bodyBytes: raw.bodyBytes, signature: raw.signatures[0]! }
}

/** The multisig transaction from members' signatures over the same body, keyed by member address. */
export function assembleRelease(v: CosmosVaultState, bodyBytes: Uint8Array, signatures: Map<string, Uint8Array>): Uint8Array {
  return makeMultisignedTxBytes(v.pubkey, v.sequence, v.fee, bodyBytes, signatures)
}
