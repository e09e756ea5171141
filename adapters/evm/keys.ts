import type { LocalAccount } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { QantaraError } from '../../src/errors.js'
import type { SecretMaterial } from '../../src/config/keySource.js'
import { decryptKeystore } from './keystore.js'

const HEX_KEY = /^(0x)?[0-9a-fA-F]{64}$/

/** Turns a key source's secret into a signing account; the key itself never leaves this function. */
export function evmAccountFromSecret(secret: SecretMaterial): LocalAccount {
  const hex = secret.kind === 'hex' ? secret.value : decryptKeystore(secret.json, secret.password)
  if (!HEX_KEY.test(hex)) throw new QantaraError('KEY_UNAVAILABLE', 'the key is not 32 bytes of hex')
  const key = (hex.startsWith('0x') ? hex : `0x${hex}`) as `0x${string}`
  try {
    return privateKeyToAccount(key)
  } catch {
    // No cause attached: the library's message may quote the key.
    throw new QantaraError('KEY_UNAVAILABLE', 'the key is not a valid secp256k1 private key')
  }
}
