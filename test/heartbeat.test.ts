import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { canonicalJson } from '../src/canonicalJson.js'
import { ed25519FromSeed } from '../src/ed25519.js'
import { challengeBytes, heartbeatBytes } from '../src/heartbeat/bytes.js'
import type { Heartbeat } from '../src/heartbeat/schema.js'
import { MAX_HEARTBEAT_BYTES, verifyHeartbeat, type VerifyContext } from '../src/heartbeat/verify.js'
import { ChallengeBook } from '../src/heartbeat/challenges.js'
import { FORGED_SIGNATURE, ZERO_KEY, forgeable } from './support/smallOrderForgery.js'

const v = JSON.parse(readFileSync(new URL('./fixtures/heartbeat-vectors.json', import.meta.url), 'utf8')) as {
  relayerSeed: string
  relayerKey: string
  providerSeed: string
  providerKey: string
  challenge: Heartbeat['challenge']['challenge']
  challengeSigningBytes: string
  challengeSignature: string
  heartbeat: Heartbeat
  heartbeatSigningBytes: string
  heartbeatSignature: string
  heartbeatWithoutGpu: Heartbeat
  heartbeatWithoutGpuSignature: string
}
const relayer = ed25519FromSeed(v.relayerSeed)
const provider = ed25519FromSeed(v.providerSeed)

function ctx(over: Partial<VerifyContext> = {}): VerifyContext {
  return {
    order: { id: v.challenge.orderId, providerId: v.providerKey, slots: 10 },
    slot: 7,
    relayerKeys: new Map([['relayer-a', v.relayerKey]]),
    nowMs: v.heartbeat.timestamp + 500,
    skewMs: 30_000,
    ...over,
  }
}
const signed = (h: Heartbeat = v.heartbeat) =>
  JSON.stringify({ heartbeat: h, signature: provider.sign(heartbeatBytes(h)) })

describe('heartbeat protocol v1 vectors', () => {
  it('derives the documented keys from the seeds', () => {
    expect([relayer.publicKey, provider.publicKey]).toEqual([v.relayerKey, v.providerKey])
  })

  it('encodes the challenge and heartbeat to the documented bytes and signatures', () => {
    expect(challengeBytes(v.challenge).toString('utf8')).toBe(v.challengeSigningBytes)
    expect(relayer.sign(challengeBytes(v.challenge))).toBe(v.challengeSignature)
    expect(heartbeatBytes(v.heartbeat).toString('utf8')).toBe(v.heartbeatSigningBytes)
    expect(provider.sign(heartbeatBytes(v.heartbeat))).toBe(v.heartbeatSignature)
    expect(provider.sign(heartbeatBytes(v.heartbeatWithoutGpu))).toBe(v.heartbeatWithoutGpuSignature)
  })

  it('accepts the vector heartbeat', () => {
    expect(
      verifyHeartbeat(JSON.stringify({ heartbeat: v.heartbeat, signature: v.heartbeatSignature }), ctx()).ok,
    ).toBe(true)
  })
})

describe('verifyHeartbeat rejections', () => {
  const reject = (raw: string, over: Partial<VerifyContext> = {}) => {
    const r = verifyHeartbeat(raw, ctx(over))
    return r.ok ? 'OK' : r.code
  }

  it("MALFORMED for a compute challenge of another size than the order's class or another count than its GPUs, and a commitment to no challenge", () => {
    const withCompute = (n: number, commitment?: string, count = 2): Heartbeat => {
      const challenge = {
        ...v.challenge,
        compute: { seed: `0x${'11'.repeat(32)}`, n, count, follows: `0x${'33'.repeat(64)}` },
      }
      return {
        ...v.heartbeat,
        challenge: { challenge, signature: relayer.sign(challengeBytes(challenge)) },
        ...(commitment ? { commitment } : {}),
      }
    }
    const reference = { order: { ...ctx().order, gpu: { class: 'cpu-reference', count: 2 } } }
    expect(reject(signed(withCompute(96, `0x${'22'.repeat(32)}`)), reference)).toBe('OK')
    // One product for an order of two GPUs: a relayer cannot let one GPU stand for two.
    expect(reject(signed(withCompute(96, `0x${'22'.repeat(32)}`, 1)), reference)).toBe('MALFORMED')
    // A relayer asking the test class for n = 16,384: refused, so no provider can be made to decline it.
    expect(reject(signed(withCompute(16_384)), reference)).toBe('MALFORMED')
    expect(reject(signed({ ...v.heartbeat, commitment: `0x${'22'.repeat(32)}` }))).toBe('MALFORMED')
  })
  it('TOO_LARGE before parsing anything', () => {
    expect(reject(' '.repeat(MAX_HEARTBEAT_BYTES + 1))).toBe('TOO_LARGE')
  })
  it('MALFORMED for bad JSON, unknown fields and floats', () => {
    expect(reject('{')).toBe('MALFORMED')
    expect(
      reject(JSON.stringify({ heartbeat: { ...v.heartbeat, extra: 1 }, signature: v.heartbeatSignature })),
    ).toBe('MALFORMED')
    expect(
      reject(
        JSON.stringify({ heartbeat: { ...v.heartbeat, timestamp: 1.5 }, signature: v.heartbeatSignature }),
      ),
    ).toBe('MALFORMED')
  })
  it('WRONG_ORDER and WRONG_SLOT', () => {
    expect(
      reject(signed(), { order: { id: `0x${'cd'.repeat(32)}`, providerId: v.providerKey, slots: 10 } }),
    ).toBe('WRONG_ORDER')
    expect(reject(signed(), { slot: 8 })).toBe('WRONG_SLOT')
    expect(
      reject(signed(), {
        order: { id: v.challenge.orderId, providerId: v.providerKey, slots: 7 },
        slot: undefined,
      }),
    ).toBe('WRONG_SLOT')
  })
  it('WRONG_SLOT when the challenge was issued outside its slot', () => {
    const slotStartS = Math.floor(v.challenge.issuedAt / 1000) - 7 * 60
    expect(
      reject(signed(), {
        order: {
          id: v.challenge.orderId,
          providerId: v.providerKey,
          slots: 10,
          start: BigInt(slotStartS),
          slotLength: 60,
        },
      }),
    ).toBe('OK')
    expect(
      reject(signed(), {
        order: {
          id: v.challenge.orderId,
          providerId: v.providerKey,
          slots: 10,
          start: BigInt(slotStartS + 60),
          slotLength: 60,
        },
      }),
    ).toBe('WRONG_SLOT')
  })
  it("holds a gossiped heartbeat to its challenge time, not to the receiver's clock", () => {
    expect(reject(signed(), { nowMs: undefined })).toBe('OK')
    expect(
      reject(signed({ ...v.heartbeat, timestamp: v.challenge.issuedAt + 30_001 }), { nowMs: undefined }),
    ).toBe('STALE')
  })
  it('UNKNOWN_RELAYER and BAD_CHALLENGE_SIGNATURE', () => {
    expect(reject(signed(), { relayerKeys: new Map() })).toBe('UNKNOWN_RELAYER')
    const tampered = {
      ...v.heartbeat,
      challenge: { ...v.heartbeat.challenge, challenge: { ...v.challenge, salt: `0x${'00'.repeat(32)}` } },
    }
    expect(reject(signed(tampered))).toBe('BAD_CHALLENGE_SIGNATURE')
  })
  it('BAD_SIGNATURE for a heartbeat changed after signing', () => {
    expect(
      reject(JSON.stringify({ heartbeat: { ...v.heartbeat, gpus: [] }, signature: v.heartbeatSignature })),
    ).toBe('BAD_SIGNATURE')
  })
  it('STALE outside the clock-skew bound, either way', () => {
    expect(reject(signed(), { nowMs: v.heartbeat.timestamp + 30_001 })).toBe('STALE')
    expect(reject(signed(), { nowMs: v.heartbeat.timestamp - 30_001 })).toBe('STALE')
  })
  it("UNKNOWN_NONCE and REPLAYED_NONCE against the relayer's own challenge book", () => {
    const book = new ChallengeBook('relayer-a', relayer, 60_000)
    const issued = book.issue(v.challenge.orderId, 7, v.heartbeat.timestamp)
    const answer = signed({ ...v.heartbeat, challenge: issued })
    const own = { relayerId: 'relayer-a', issued: book.issued.bind(book), consume: book.consume.bind(book) }
    expect(reject(signed(), { own })).toBe('UNKNOWN_NONCE')
    expect(reject(answer, { own })).toBe('OK')
    expect(reject(answer, { own })).toBe('REPLAYED_NONCE')
  })
  it('a forged answer does not burn the nonce', () => {
    const book = new ChallengeBook('relayer-a', relayer, 60_000)
    const issued = book.issue(v.challenge.orderId, 7, v.heartbeat.timestamp)
    const own = { relayerId: 'relayer-a', issued: book.issued.bind(book), consume: book.consume.bind(book) }
    const h = { ...v.heartbeat, challenge: issued }
    expect(reject(JSON.stringify({ heartbeat: h, signature: v.heartbeatSignature }), { own })).toBe(
      'BAD_SIGNATURE',
    )
    expect(reject(signed(h), { own })).toBe('OK')
  })
  it('BAD_SIGNATURE for a heartbeat forged under a small-order provider key (R = identity, S = 0), which OpenSSL alone accepts', () => {
    const book = new ChallengeBook('relayer-a', relayer, 60_000)
    const issued = book.issue(v.challenge.orderId, 7, v.heartbeat.timestamp)
    const own = { relayerId: 'relayer-a', issued: book.issued.bind(book), consume: book.consume.bind(book) }
    const order = { id: v.challenge.orderId, providerId: ZERO_KEY, slots: 10 }
    const h = forgeable(
      Array.from({ length: 64 }, (_, i) => ({
        ...v.heartbeat,
        challenge: issued,
        timestamp: v.heartbeat.timestamp + i,
      })),
      heartbeatBytes,
    )
    expect(reject(JSON.stringify({ heartbeat: h, signature: FORGED_SIGNATURE }), { order, own })).toBe(
      'BAD_SIGNATURE',
    )
    // The nonce was not used up: the challenge is still the relayer's to match.
    expect(book.consume(issued.challenge.salt, v.challenge.orderId, 7)).toBe('ok')
  })
  it('BAD_CHALLENGE_SIGNATURE for a challenge forged under a small-order relayer key, even one in the relayer set', () => {
    const base = { ...v.challenge, relayerId: 'relayer-z', relayerKey: ZERO_KEY }
    const challenge = forgeable(
      Array.from({ length: 64 }, (_, i) => ({ ...base, issuedAt: base.issuedAt + i })),
      challengeBytes,
    )
    const h = { ...v.heartbeat, challenge: { challenge, signature: FORGED_SIGNATURE } }
    expect(reject(signed(h), { relayerKeys: new Map([['relayer-z', ZERO_KEY]]) })).toBe(
      'BAD_CHALLENGE_SIGNATURE',
    )
  })
  it('canonical JSON refuses floats outright', () => {
    expect(() => canonicalJson({ a: 0.1 })).toThrow(/safe integers only/)
  })
})
