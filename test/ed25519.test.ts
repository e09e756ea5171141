import { describe, expect, it } from 'vitest'
import { ed25519KeyProblem, ed25519Verify, generateEd25519 } from '../src/ed25519.js'
import { NO_PROVIDER } from '../src/vault/refund.js'
import { FORGED_SIGNATURE as FORGED, ZERO_KEY, opensslAccepts } from './support/smallOrderForgery.js'

// The eight points of small order (8·P = identity), as their canonical encodings.
const SMALL_ORDER = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
].map((h) => `0x${h}`)

describe('ed25519 public keys', () => {
  it('refuses the forgery R = identity, S = 0 under the all-zero key, which OpenSSL alone accepts for about one message in four', () => {
    const messages = Array.from({ length: 64 }, (_, i) => new TextEncoder().encode(`qantara heartbeat ${i}`))
    const forgeable = messages.filter((m) => opensslAccepts(ZERO_KEY, m, FORGED))
    expect(forgeable.length).toBeGreaterThanOrEqual(5)
    expect(forgeable.length).toBeLessThanOrEqual(30)
    expect(messages.filter((m) => ed25519Verify(ZERO_KEY, m, FORGED))).toEqual([])
  })

  it('refuses every key of small order and every non-canonical encoding, and accepts a generated key', () => {
    expect(SMALL_ORDER.map(ed25519KeyProblem)).toEqual(Array(8).fill('SMALL_ORDER'))
    // y = p (a second spelling of y = 0), y = 2^255 − 1, and the identity with the sign bit set (x = 0 is not negative).
    expect(
      [`0xed${'ff'.repeat(30)}7f`, `0x${'ff'.repeat(32)}`, `0x01${'00'.repeat(30)}80`].map(ed25519KeyProblem),
    ).toEqual(['NON_CANONICAL', 'NON_CANONICAL', 'NON_CANONICAL'])
    expect(ed25519KeyProblem('0x1234')).toBe('MALFORMED')
    const { signer } = generateEd25519()
    const message = new TextEncoder().encode('an honest message')
    expect([
      ed25519KeyProblem(signer.publicKey),
      ed25519Verify(signer.publicKey, message, signer.sign(message)),
    ]).toEqual([undefined, true])
  })

  it('gives refund orders a provider id no key can equal', () => {
    expect(NO_PROVIDER).toBe(`0x${'ff'.repeat(32)}`)
    expect(ed25519KeyProblem(NO_PROVIDER)).toBe('NON_CANONICAL')
    expect(ed25519Verify(NO_PROVIDER, new Uint8Array(0), FORGED)).toBe(false)
  })
})
