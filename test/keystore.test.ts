import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { decryptKeystore } from '../adapters/evm/keystore.js'
import { isQantaraError } from '../src/errors.js'

const vectors = JSON.parse(
  readFileSync(new URL('./fixtures/keystore-v3-vectors.json', import.meta.url), 'utf8'),
) as Record<string, unknown> & { privateKey: string; password: string }

describe('decryptKeystore', () => {
  for (const kdf of ['pbkdf2', 'scrypt'] as const) {
    it(`decrypts the Web3 Secret Storage ${kdf} vector`, () => {
      expect(decryptKeystore(JSON.stringify(vectors[kdf]), vectors.password)).toBe(vectors.privateKey)
    })
  }

  it('refuses a wrong password without revealing anything', () => {
    try {
      decryptKeystore(JSON.stringify(vectors.pbkdf2), 'wrong')
      expect.unreachable()
    } catch (err) {
      expect(isQantaraError(err, 'KEYSTORE_INVALID')).toBe(true)
      expect((err as Error).message).toBe('wrong keystore password (MAC mismatch)')
    }
  })

  it('refuses scrypt parameters that would exhaust memory', () => {
    const huge = structuredClone(vectors.scrypt) as { crypto: { kdfparams: { n: number } } }
    huge.crypto.kdfparams.n = 2 ** 24
    expect(() => decryptKeystore(JSON.stringify(huge), vectors.password)).toThrow(/too large/)
  })

  it('refuses a file that is not a keystore', () => {
    expect(() => decryptKeystore('{"version":3}', 'x')).toThrow(/not a keystore v3 file/)
  })
})
