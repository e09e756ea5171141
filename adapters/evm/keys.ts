import type { Hex, LocalAccount } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import type { FamilyKeys } from '../../src/family.js'
import type { EvmChainConfig } from './config.js'
import { QantaraError } from '../../src/errors.js'
import type { SecretMaterial } from '../../src/config/keySource.js'
import { decryptKeystore, encryptKeystore } from './keystore.js'

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

/** `qantara keys` for EVM chains: the address is both the member's `evm` and the account that pays gas. */
export const evmKeys: FamilyKeys<EvmChainConfig> = {
  memberField: 'evm',
  generate: () => generatePrivateKey(),
  publicParts(secret) {
    const { address } = evmAccountFromSecret(secret)
    return { member: address, account: address }
  },
  keystore: (key, password) =>
    encryptKeystore(key as Hex, password, evmAccountFromSecret({ kind: 'hex', value: key }).address),
}
