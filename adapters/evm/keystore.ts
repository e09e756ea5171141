import {
  createCipheriv,
  createDecipheriv,
  pbkdf2Sync,
  randomBytes,
  randomUUID,
  timingSafeEqual,
} from 'node:crypto'
import { scrypt } from '@noble/hashes/scrypt'
import { keccak256, type Hex } from 'viem'
import { z } from 'zod'
import { QantaraError } from '../../src/errors.js'

const hex = z.string().regex(/^(0x)?[0-9a-fA-F]*$/)
const keystoreSchema = z.object({
  version: z.literal(3),
  crypto: z.object({
    cipher: z.literal('aes-128-ctr'),
    ciphertext: hex,
    cipherparams: z.object({ iv: hex }),
    kdf: z.enum(['scrypt', 'pbkdf2']),
    kdfparams: z.object({
      dklen: z.number().int().min(32).max(64),
      salt: hex,
      n: z.number().int().positive().optional(),
      r: z.number().int().positive().optional(),
      p: z.number().int().positive().optional(),
      c: z.number().int().positive().optional(),
      prf: z.literal('hmac-sha256').optional(),
    }),
    mac: hex,
  }),
})

// Refuse parameters that would make decryption take minutes or gigabytes.
const MAX_SCRYPT_N = 2 ** 20
const MAX_PBKDF2_ROUNDS = 10_000_000

const bytes = (h: string) => Buffer.from(h.replace(/^0x/, ''), 'hex')

/** Decrypts an Ethereum keystore v3 file (as written by Foundry and geth). */
export function decryptKeystore(json: string, password: string): Hex {
  let parsed: z.infer<typeof keystoreSchema>
  try {
    parsed = keystoreSchema.parse(JSON.parse(json))
  } catch {
    // No cause attached: a JSON parse error quotes the file, which may be a raw key put where a keystore belongs.
    throw new QantaraError('KEYSTORE_INVALID', 'not a keystore v3 file with aes-128-ctr and scrypt or pbkdf2')
  }
  const { crypto: c } = parsed
  const kp = c.kdfparams
  let derived: Buffer
  if (c.kdf === 'scrypt') {
    const { n, r, p } = kp
    if (!n || !r || !p || n > MAX_SCRYPT_N || r > 16 || p > 16)
      throw new QantaraError('KEYSTORE_INVALID', 'keystore scrypt parameters are missing or too large')
    // noble's scrypt, not OpenSSL's: OpenSSL refuses N >= 2^(16r), which the reference vectors use.
    derived = Buffer.from(
      scrypt(password.normalize('NFKD'), bytes(kp.salt), {
        N: n,
        r,
        p,
        dkLen: kp.dklen,
        maxmem: 2 * 128 * n * r + 64 * 1024 * 1024,
      }),
    )
  } else {
    if (!kp.c || kp.c > MAX_PBKDF2_ROUNDS)
      throw new QantaraError('KEYSTORE_INVALID', 'keystore pbkdf2 round count is missing or too large')
    derived = pbkdf2Sync(password.normalize('NFKD'), bytes(kp.salt), kp.c, kp.dklen, 'sha256')
  }
  const ciphertext = bytes(c.ciphertext)
  const mac = bytes(keccak256(Buffer.concat([derived.subarray(16, 32), ciphertext])))
  const expected = bytes(c.mac)
  if (expected.length !== mac.length || !timingSafeEqual(mac, expected)) {
    throw new QantaraError('KEYSTORE_INVALID', 'wrong keystore password (MAC mismatch)')
  }
  const decipher = createDecipheriv('aes-128-ctr', derived.subarray(0, 16), bytes(c.cipherparams.iv))
  const key = Buffer.concat([decipher.update(ciphertext), decipher.final()])
  if (key.length !== 32)
    throw new QantaraError('KEYSTORE_INVALID', `keystore holds a ${key.length}-byte key, expected 32`)
  return `0x${key.toString('hex')}`
}

/** scrypt cost of keystores written here: geth's "light" 2^12 is too cheap to guess against; 2^17 is ~0.5 s here. */
const WRITE_SCRYPT_N = 2 ** 17

/** Encrypts a private key as a keystore v3 file (scrypt, aes-128-ctr), as geth and Foundry read it. */
export function encryptKeystore(privateKey: Hex, password: string, address: string): string {
  const salt = randomBytes(32)
  const iv = randomBytes(16)
  const derived = Buffer.from(
    scrypt(password.normalize('NFKD'), salt, {
      N: WRITE_SCRYPT_N,
      r: 8,
      p: 1,
      dkLen: 32,
      maxmem: 2 * 128 * WRITE_SCRYPT_N * 8 + 64 * 1024 * 1024,
    }),
  )
  const cipher = createCipheriv('aes-128-ctr', derived.subarray(0, 16), iv)
  const ciphertext = Buffer.concat([cipher.update(bytes(privateKey)), cipher.final()])
  const mac = keccak256(Buffer.concat([derived.subarray(16, 32), ciphertext]))
  return JSON.stringify({
    version: 3,
    id: randomUUID(),
    address: address.replace(/^0x/, '').toLowerCase(),
    crypto: {
      cipher: 'aes-128-ctr',
      ciphertext: ciphertext.toString('hex'),
      cipherparams: { iv: iv.toString('hex') },
      kdf: 'scrypt',
      kdfparams: { dklen: 32, n: WRITE_SCRYPT_N, r: 8, p: 1, salt: salt.toString('hex') },
      mac: mac.slice(2),
    },
  })
}
