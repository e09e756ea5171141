import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto'
import { ed25519 } from '@noble/curves/ed25519'
import { QantaraError } from './errors.js'

// DER prefixes that wrap a raw 32-byte ed25519 key (RFC 8410).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const HEX32 = /^(0x)?[0-9a-fA-F]{64}$/

export type Hex = `0x${string}`

/** An ed25519 identity: provider keys and relayer identity keys. */
export interface Ed25519Signer {
  publicKey: Hex
  sign(message: Uint8Array): Hex
}

export function ed25519FromSeed(seedHex: string): Ed25519Signer {
  if (!HEX32.test(seedHex))
    throw new QantaraError('KEY_UNAVAILABLE', 'an ed25519 key is 32 bytes of hex (the seed) or a PKCS#8 PEM')
  return fromKeyObject(
    createPrivateKey({
      key: Buffer.concat([PKCS8_PREFIX, Buffer.from(seedHex.replace(/^0x/, ''), 'hex')]),
      format: 'der',
      type: 'pkcs8',
    }),
  )
}

/** Reads an ed25519 private key as a hex seed or a PKCS#8 PEM (as `openssl genpkey -algorithm ed25519` writes). */
export function ed25519FromText(text: string): Ed25519Signer {
  const trimmed = text.trim()
  if (!trimmed.startsWith('-----BEGIN')) return ed25519FromSeed(trimmed)
  let key: KeyObject
  try {
    key = createPrivateKey(trimmed)
  } catch {
    throw new QantaraError('KEY_UNAVAILABLE', 'the PEM is not a readable private key')
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new QantaraError('KEY_UNAVAILABLE', `the PEM holds a ${key.asymmetricKeyType} key, not ed25519`)
  return fromKeyObject(key)
}

export function generateEd25519(): { seed: Hex; signer: Ed25519Signer } {
  const { privateKey } = generateKeyPairSync('ed25519')
  const der = privateKey.export({ format: 'der', type: 'pkcs8' })
  return { seed: `0x${der.subarray(PKCS8_PREFIX.length).toString('hex')}`, signer: fromKeyObject(privateKey) }
}

function fromKeyObject(key: KeyObject): Ed25519Signer {
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' })
  const publicKey: Hex = `0x${spki.subarray(SPKI_PREFIX.length).toString('hex')}`
  return { publicKey, sign: (message) => `0x${sign(null, message, key).toString('hex')}` }
}

/**
 * Why 32 bytes of hex are not a public key anyone holds the private key of,
 * or undefined when they are one. Refused: encodings that are not canonical
 * (y ≥ p, or x = 0 with the sign bit set: a second spelling of a point), and
 * points of small order (8·P = identity), such as the all-zero key. Under a
 * small-order key anyone forges a signature of about one message in eight
 * (R = identity, S = 0; security review 2026-12, section 13). A key made
 * from a seed is never refused: its scalar is a multiple of 8 times the base.
 */
export function ed25519KeyProblem(
  publicKey: string,
): 'MALFORMED' | 'NON_CANONICAL' | 'SMALL_ORDER' | undefined {
  if (!HEX32.test(publicKey)) return 'MALFORMED'
  let point
  try {
    point = ed25519.Point.fromHex(publicKey.replace(/^0x/, ''), false)
  } catch {
    return 'NON_CANONICAL'
  }
  return point.isSmallOrder() ? 'SMALL_ORDER' : undefined
}

/** A key `ed25519Verify` refuses: non-canonical or of small order. */
export const isWeakEd25519Key = (publicKey: string): boolean => ed25519KeyProblem(publicKey) !== undefined

/** Keys already read, each with its OpenSSL object, or null where the key is refused. */
const publicKeys = new Map<string, KeyObject | null>()

/** Verifies an ed25519 signature; false on any malformed input or refused key (see `ed25519KeyProblem`), never a throw. */
export function ed25519Verify(publicKey: string, message: Uint8Array, signature: string): boolean {
  if (!HEX32.test(publicKey) || !/^(0x)?[0-9a-fA-F]{128}$/.test(signature)) return false
  let key = publicKeys.get(publicKey)
  if (key === undefined) {
    try {
      key = ed25519KeyProblem(publicKey)
        ? null
        : createPublicKey({
            key: Buffer.concat([SPKI_PREFIX, Buffer.from(publicKey.replace(/^0x/, ''), 'hex')]),
            format: 'der',
            type: 'spki',
          })
    } catch {
      key = null
    }
    if (publicKeys.size > 10_000) publicKeys.clear()
    publicKeys.set(publicKey, key)
  }
  return key !== null && verify(null, message, key, Buffer.from(signature.replace(/^0x/, ''), 'hex'))
}
