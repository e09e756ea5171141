import {
  address,
  createKeyPairSignerFromPrivateKeyBytes,
  getAddressDecoder,
  getAddressEncoder,
  isAddress,
  type Address,
  type KeyPairSigner,
} from '@solana/kit'
import type { SecretMaterial } from '../../src/config/keySource.js'
import { ed25519FromSeed, generateEd25519, type Ed25519Signer } from '../../src/ed25519.js'
import type { FamilyKeys } from '../../src/family.js'
import type { SolanaChainConfig } from './config.js'
import { QantaraError } from '../../src/errors.js'

export interface SolanaKey {
  address: Address
  signer: Ed25519Signer
}

/** A Solana key from a 32-byte hex seed or a solana-keygen JSON array (seed then public key); the key never leaves here. */
export function solanaKeyFromSecret(secret: SecretMaterial): SolanaKey {
  const signer = ed25519FromSeed(solanaSeed(secret))
  return { address: getAddressDecoder().decode(Buffer.from(signer.publicKey.slice(2), 'hex')), signer }
}

/** The key as @solana/kit signs with it, for the operators' commands that send transactions of their own. */
export function solanaKeyPairSigner(secret: SecretMaterial): Promise<KeyPairSigner> {
  const seed = solanaSeed(secret)
  ed25519FromSeed(seed) // refuses anything but 32 bytes of hex, with a typed error
  return createKeyPairSignerFromPrivateKeyBytes(Buffer.from(seed.replace(/^0x/, ''), 'hex'))
}

/** The 32-byte seed, hex, checked against the public key a solana-keygen file carries beside it. */
function solanaSeed(secret: SecretMaterial): string {
  if (secret.kind !== 'hex')
    throw new QantaraError('KEY_UNAVAILABLE', 'a Solana key is read from { env } or { file }, not a keystore')
  const text = secret.value.trim()
  let seed: string
  let claimed: string | undefined
  if (text.startsWith('[')) {
    let bytes: unknown
    try {
      bytes = JSON.parse(text)
    } catch {
      throw new QantaraError('KEY_UNAVAILABLE', 'the Solana key file is not a JSON array')
    }
    if (
      !Array.isArray(bytes) ||
      bytes.length !== 64 ||
      !bytes.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)
    )
      throw new QantaraError('KEY_UNAVAILABLE', 'a solana-keygen key is a JSON array of 64 bytes')
    seed = Buffer.from(bytes.slice(0, 32) as number[]).toString('hex')
    claimed = Buffer.from(bytes.slice(32) as number[]).toString('hex')
  } else {
    seed = text
  }
  if (claimed && ed25519FromSeed(seed).publicKey.slice(2) !== claimed)
    throw new QantaraError('KEY_UNAVAILABLE', "the key file's public key does not match its secret")
  return seed
}

/** A Solana address as raw bytes, as an order memo carries it. */
export function solanaAccount(text: string): { bytes: Uint8Array; canonical: string } {
  if (!isAddress(text)) throw new QantaraError('CONFIG_INVALID', `${text} is not a base58 Solana address`)
  return { bytes: Uint8Array.from(getAddressEncoder().encode(address(text))), canonical: text }
}

/** `qantara keys` for Solana: a solana-keygen file (seed then public key), named by its base58 address. */
export const solanaKeys: FamilyKeys<SolanaChainConfig> = {
  memberField: 'solana',
  generate() {
    const { seed, signer } = generateEd25519()
    return JSON.stringify([
      ...Buffer.from(seed.slice(2), 'hex'),
      ...Buffer.from(signer.publicKey.slice(2), 'hex'),
    ])
  },
  publicParts(secret) {
    const { address } = solanaKeyFromSecret(secret)
    return { member: address, account: address }
  },
}
