import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { generateEd25519 } from '../src/ed25519.js'
import { buildConfigSchema } from '../src/config/schema.js'
import { webhooksConfigSchema } from '../src/webhooks/config.js'
import { webhookEventId, type WebhookEvent } from '../src/webhooks/events.js'
import { verifyWebhook } from '../src/webhooks/verify.js'

const NOW = Date.UTC(2026, 0, 1)
const relayer = generateEd25519().signer

/** Headers as the dispatcher writes them, signed at `at` (ms). */
function signed(body: string, at = NOW, signer = relayer) {
  const timestamp = String(Math.floor(at / 1_000))
  return {
    'qantara-relayer': signer.publicKey.slice(2),
    'qantara-timestamp': timestamp,
    'qantara-signature': signer.sign(Buffer.from(`${timestamp}.${body}`, 'utf8')).slice(2),
  }
}

describe('verifyWebhook', () => {
  const body = JSON.stringify({
    id: 'order.opened:eip155:1:0x01',
    data: { amount: '1000000000000000000000' },
  })
  const verify = (
    b: string | Uint8Array,
    headers: Record<string, string> | Headers,
    toleranceSeconds?: number,
  ) => verifyWebhook({ body: b, headers, publicKey: relayer.publicKey, now: () => NOW, toleranceSeconds })

  it('accepts a delivery signed by the relayer, its body as text or bytes, its headers as a record or Headers', () => {
    const h = signed(body)
    const accepted = { ok: true, relayer: relayer.publicKey.slice(2), timestamp: NOW / 1_000 }
    expect(verify(body, h)).toEqual(accepted)
    expect(verify(Buffer.from(body), new Headers(h))).toEqual(accepted)
    expect(
      verify(body, {
        'Qantara-Relayer': h['qantara-relayer'],
        'Qantara-Timestamp': h['qantara-timestamp'],
        'Qantara-Signature': h['qantara-signature'],
      }),
    ).toEqual(accepted)
  })

  it('refuses a tampered body, a moved timestamp and a signature by another key', () => {
    const h = signed(body)
    expect(verify(body.replace('1000', '9000'), h)).toEqual({ ok: false, reason: 'BAD_SIGNATURE' })
    expect(verify(body, { ...h, 'qantara-timestamp': String(NOW / 1_000 + 1) })).toEqual({
      ok: false,
      reason: 'BAD_SIGNATURE',
    })
    const other = generateEd25519().signer
    expect(verify(body, { ...signed(body, NOW, other), 'qantara-relayer': h['qantara-relayer'] })).toEqual({
      ok: false,
      reason: 'BAD_SIGNATURE',
    })
    expect(verify(body, signed(body, NOW, other))).toEqual({ ok: false, reason: 'UNKNOWN_RELAYER' })
    expect(verify(body, { 'qantara-timestamp': h['qantara-timestamp'] })).toEqual({
      ok: false,
      reason: 'MISSING_HEADER',
    })
  })

  it('refuses a timestamp outside the tolerance, either way', () => {
    expect(verify(body, signed(body, NOW - 301_000))).toEqual({ ok: false, reason: 'STALE_TIMESTAMP' })
    expect(verify(body, signed(body, NOW + 301_000))).toEqual({ ok: false, reason: 'STALE_TIMESTAMP' })
    expect(verify(body, signed(body, NOW - 299_000)).ok).toBe(true)
    expect(verify(body, signed(body, NOW - 3_600_000), 7_200).ok).toBe(true)
  })

  it("accepts any key of a quorum's list, with or without 0x", () => {
    const others = [generateEd25519().signer.publicKey, relayer.publicKey.slice(2).toUpperCase()]
    expect(verifyWebhook({ body, headers: signed(body), publicKey: others, now: () => NOW }).ok).toBe(true)
  })
})

describe('webhook event ids', () => {
  const event = (type: WebhookEvent['type'], data: Record<string, unknown> = {}): WebhookEvent => ({
    type,
    orderId: '0xab',
    chain: 'eip155:8453',
    data,
  })

  it('are the same for the same fact whatever else the event says, so every relayer and every retry agree', () => {
    expect(webhookEventId(event('order.settled', { txHash: '0x1' }))).toBe('order.settled:eip155:8453:0xab')
    expect(webhookEventId(event('order.settled', { txHash: '0x2' }))).toBe('order.settled:eip155:8453:0xab')
    expect(webhookEventId(event('slot.down', { slot: 7, reason: 'TIMEOUT' }))).toBe(
      'slot.down:eip155:8453:0xab:7',
    )
    expect(webhookEventId(event('slot.down', { slot: '7' }))).toBe('slot.down:eip155:8453:0xab:7')
  })

  it('cannot be made for a slot.down without its slot', () => {
    expect(
      [{}, { slot: -1 }, { slot: 1.5 }, { slot: 'x' }].map((d) => webhookEventId(event('slot.down', d))),
    ).toEqual(Array(4).fill(undefined))
  })
})

describe('webhooks config', () => {
  const hook = { url: 'https://hooks.example.com/qantara', events: ['order.settled'] }

  it('fills in maxQueue and timeoutMs, and is empty when absent', () => {
    expect(webhooksConfigSchema.parse([hook])).toEqual([{ ...hook, maxQueue: 1_000, timeoutMs: 5_000 }])
    expect(webhooksConfigSchema.parse(undefined)).toEqual([])
  })

  it('refuses a URL that is not http(s), an unknown event, no events, a second entry for one URL and a huge queue', () => {
    const problems = (hooks: unknown) => {
      const r = webhooksConfigSchema.safeParse(hooks)
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
    }
    expect(problems([{ ...hook, url: 'ftp://hooks.example.com/' }])).toEqual([
      '0.url: must be an http(s):// URL',
    ])
    expect(problems([{ ...hook, url: 'not a url' }])).toEqual(['0.url: must be an http(s):// URL'])
    expect(problems([{ ...hook, events: ['order.opened', 'order.paid'] }])).toHaveLength(1)
    expect(problems([{ ...hook, events: ['order.opened', 'order.paid'] }])[0]).toMatch(/^0\.events\.1: /)
    expect(problems([{ ...hook, events: [] }])).toHaveLength(1)
    expect(problems([hook, { ...hook, events: ['slot.down'] }])).toEqual([
      ': each URL may appear once; list all of its events in one entry',
    ])
    expect(problems([{ ...hook, maxQueue: 100_001 }])).toHaveLength(1)
    expect(problems([{ ...hook, secret: 'x' }])).toHaveLength(1)
  })

  it("is the relayer config's webhooks section", () => {
    const schema = buildConfigSchema(z.unknown(), z.unknown())
    const config = {
      relayer: { id: 'r1', identityKey: { env: 'QANTARA_IDENTITY' } },
      store: { path: 'q.sqlite' },
      quorum: { threshold: 1, members: [{ id: 'r1', identity: generateEd25519().signer.publicKey }] },
      chains: [{}],
      prober: { computeChallengeRate: 0 },
    }
    expect(schema.parse(config).webhooks).toEqual([])
    const bad = schema.safeParse({ ...config, webhooks: [{ url: 'ws://x/', events: ['order.opened'] }] })
    expect(bad.success ? [] : bad.error.issues.map((i) => i.path.join('.'))).toEqual(['webhooks.0.url'])
  })
})
