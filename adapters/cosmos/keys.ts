import { Secp256k1Wallet, pubkeyToAddress, type OfflineAminoSigner } from '@cosmjs/amino'
import { fromBech32, toBech32 } from '@cosmjs/encoding'
import { secp256k1 } from '@noble/curves/secp256k1'
import { sha256 } from '@noble/hashes/sha2'
import type { SecretMaterial } from '../../src/config/keySource.js'
import { QantaraError } from '../../src/errors.js'
import type { FamilyKeys } from '../../src/family.js'
import type { CosmosChainConfig } from './config.js'

/** A relayer's secp256k1 key on a Cosmos chain; the private half never leaves here. */
export interface CosmosKey {
  /** Compressed public key, as the vault's multisig lists it. */
  pubkey: Uint8Array
  address: string
  /** Signs sha256(message): 64 bytes, low S. */
  sign(message: Uint8Array): Uint8Array
  /** The amino-JSON signer of the release's sign document. */
  aminoSigner(): Promise<OfflineAminoSigner>
}

/** The key from 32 bytes of hex (with or without 0x), with addresses under the chain's bech32 prefix. */
export function cosmosKeyFromSecret(secret: SecretMaterial, prefix: string): CosmosKey {
  if (secret.kind !== 'hex')
    throw new QantaraError('KEY_UNAVAILABLE', 'a Cosmos key is read from { env } or { file }, not a keystore')
  const hex = secret.value.trim().replace(/^0x/, '')
  if (!/^[0-9a-fA-F]{64}$/.test(hex))
    throw new QantaraError('KEY_UNAVAILABLE', 'a Cosmos key is 32 bytes of hex (the secp256k1 private key)')
  const privkey = Uint8Array.from(Buffer.from(hex, 'hex'))
  if (!secp256k1.utils.isValidPrivateKey(privkey))
    throw new QantaraError('KEY_UNAVAILABLE', 'the Cosmos key is not a valid secp256k1 private key')
  const pubkey = secp256k1.getPublicKey(privkey, true)
  let wallet: Promise<OfflineAminoSigner> | undefined
  return {
    pubkey,
    address: cosmosAddress(pubkey, prefix),
    sign: (message) => secp256k1.sign(sha256(message), privkey).toCompactRawBytes(),
    aminoSigner: () => (wallet ??= Secp256k1Wallet.fromKey(privkey, prefix)),
  }
}

/** The account address of a compressed secp256k1 public key. */
export function cosmosAddress(pubkey: Uint8Array, prefix: string): string {
  return pubkeyToAddress(
    { type: 'tendermint/PubKeySecp256k1', value: Buffer.from(pubkey).toString('base64') },
    prefix,
  )
}

/** Whether `signature` is `pubkey`'s signature over sha256(message). */
export function cosmosVerify(pubkey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return signature.length === 64 && secp256k1.verify(signature, sha256(message), pubkey)
  } catch {
    return false
  }
}

/** A bech32 account address as raw bytes (what an order memo carries) and in its canonical lower-case form. */
export function cosmosAccount(text: string): { bytes: Uint8Array; canonical: string } {
  let decoded: { prefix: string; data: Uint8Array }
  try {
    decoded = fromBech32(text)
  } catch {
    throw new QantaraError('CONFIG_INVALID', `${text} is not a bech32 address`)
  }
  if (decoded.data.length !== 20 && decoded.data.length !== 32)
    throw new QantaraError('CONFIG_INVALID', `${text} is not an account address (20 or 32 bytes)`)
  return { bytes: decoded.data, canonical: toBech32(decoded.prefix, decoded.data) }
}

/** `qantara keys` for Cosmos chains: the member names the compressed public key; its account depends on the chain's prefix. */
export const cosmosKeys: FamilyKeys<CosmosChainConfig> = {
  memberField: 'cosmos',
  generate: () => `0x${Buffer.from(secp256k1.utils.randomPrivateKey()).toString('hex')}`,
  publicParts(secret, prefix) {
    const key = cosmosKeyFromSecret(secret, prefix ?? 'cosmos')
    return {
      member: Buffer.from(key.pubkey).toString('base64'),
      ...(prefix ? { account: key.address } : {}),
    }
  },
}
