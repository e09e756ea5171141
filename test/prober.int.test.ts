import { REFERENCE_ORDER_GPU, referenceGpu } from '../devkit/gpu/referenceGpu.js'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { canonicalJson } from '../src/canonicalJson.js'
import { generateEd25519, type Ed25519Signer } from '../src/ed25519.js'
import { heartbeatBytes } from '../src/heartbeat/bytes.js'
import type { Heartbeat, SignedChallenge } from '../src/heartbeat/schema.js'
import { createSafeHttp } from '../src/http/safeHttp.js'
import { silentLogger } from '../src/log.js'
import { createMetrics } from '../src/metrics.js'
import type { OrderTerms } from '../src/order.js'
import { providerRecordBytes, type ProviderRecord } from '../src/registry/record.js'
import { ProviderRegistry } from '../src/registry/registry.js'
import { Prober } from '../src/relay/prober.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { startHostileAgent, type Behaviour } from './support/hostileAgent.js'

const logger = silentLogger()
const provider = generateEd25519().signer
const relayer = generateEd25519().signer
const otherRelayer = generateEd25519().signer
const relayerKeys = new Map([
  ['r1', relayer.publicKey],
  ['r2', otherRelayer.publicKey],
])
let hostile: Awaited<ReturnType<typeof startHostileAgent>>
let store: SqliteStore
let metrics: ReturnType<typeof createMetrics>
/** The provider's Bitcoin script, listed in its record, and the renter's own. */
const PROVIDER_SCRIPT = `0014${'11'.repeat(20)}`
const RENTER_SCRIPT = `0014${'22'.repeat(20)}`
const btcPayout = (script: string) => ({
  script,
  solver: '0x0000000000000000000000000000000000000005',
  satsPerE18: 1_000_000n,
  payoutDeadline: 2_000_000_000n,
  maxAmount: 10n ** 18n,
  openBy: 1n,
  latestEnd: 2_000_000_000n,
})

function order(id = `0x${'a1'.repeat(32)}`): OrderTerms {
  return {
    id: id as `0x${string}`,
    chain: 'eip155:31337',
    renter: '0xr',
    token: 'native',
    amount: 1000n,
    providerId: provider.publicKey,
    payout: '0xp',
    start: BigInt(Math.floor(Date.now() / 1000) - 305),
    slotLength: 60,
    slots: 10,
    gpu: REFERENCE_ORDER_GPU,
  }
}

async function register(url: string, signer: Ed25519Signer = provider): Promise<void> {
  const record: ProviderRecord = {
    v: 1,
    providerId: signer.publicKey,
    url,
    gpus: [
      { name: referenceGpu().name, uuid: referenceGpu().uuid, memoryTotalMiB: referenceGpu().memoryTotalMiB },
    ],
    payout: { 'eip155:31337': '0xp' },
    prices: [
      { chain: 'eip155:31337', token: 'native', gpuClass: 'cpu-reference', perSlot: '100', slotLength: 60 },
    ],
    btcScripts: [PROVIDER_SCRIPT],
    seq: 1,
    expiresAt: Math.floor(Date.now() / 1000) + 3600,
  }
  await store.putProvider(
    signer.publicKey,
    1,
    canonicalJson({ record, signature: signer.sign(providerRecordBytes(record)) }),
    Date.now(),
  )
}

function prober(allowPrivate = true, timeoutMs = 1_000, nowMs?: () => number) {
  const httpOptions = { timeoutMs, maxBytes: 16_384, allowPrivate }
  const http = createSafeHttp(httpOptions)
  const registry = new ProviderRegistry({ store, http, httpOptions, logger })
  return new Prober({
    relayerId: 'r1',
    identity: relayer,
    relayerKeys,
    store,
    registry,
    http,
    httpOptions,
    concurrency: 8,
    perHostConcurrency: 4,
    maxSkewMs: 30_000,
    metrics,
    logger,
    ...(nowMs ? { nowMs } : {}),
  })
}

/** An agent that signs whatever heartbeat `edit` makes of the honest one. */
function answer(
  edit: (h: Heartbeat, c: SignedChallenge) => Heartbeat = (h) => h,
  signer: Ed25519Signer = provider,
): Behaviour {
  return (_req, res, body) => {
    const challenge = JSON.parse(body) as SignedChallenge
    const heartbeat = edit(
      { v: 1, challenge, timestamp: Date.now(), gpus: null, gpuUnavailable: 'nvidia-smi not found' },
      challenge,
    )
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(canonicalJson({ heartbeat, signature: signer.sign(heartbeatBytes(heartbeat)) }))
  }
}

beforeAll(async () => {
  hostile = await startHostileAgent()
})
afterAll(() => hostile?.close())
beforeEach(async () => {
  store = new SqliteStore(':memory:')
  metrics = createMetrics()
  await register(hostile.url)
})

async function probeCount(result: string): Promise<number> {
  const m = (await metrics.registry.getSingleMetricAsString('qantara_probes_total'))
    .split('\n')
    .find((l) => l.includes(`result="${result}"`))
  return m ? Number(m.split(' ').at(-1)) : 0
}

describe('Prober against hostile agents', () => {
  it('keeps an honest heartbeat, once', async () => {
    hostile.set(answer())
    const p = prober()
    expect(await p.probeOnce(order(), 5)).toBe('OK')
    expect(await store.listHeartbeats(order().id)).toHaveLength(1)
    expect(await probeCount('OK')).toBe(1)
  })

  it('sends nothing for a slot that ended while its probe waited (a relayer behind sheds, not sends late)', async () => {
    let requests = 0
    hostile.set((q, res, body) => {
      requests++
      answer()(q, res, body)
    })
    const p = prober()
    // The order started 305 s ago with 60 s slots: slot 3 ended 65 s ago, slot 5 is running.
    expect(await p.probeOnce(order(), 3)).toBe('SLOT_OVER')
    expect([requests, await probeCount('SLOT_OVER')]).toEqual([0, 1])
    expect(await p.probeOnce(order(), 5)).toBe('OK')
    expect(requests).toBe(1)
  })

  const cases: [string, Behaviour, string][] = [
    ['a forged signature', answer((h) => h, generateEd25519().signer), 'BAD_SIGNATURE'],
    [
      'a heartbeat for another order',
      answer((h) => ({
        ...h,
        challenge: {
          ...h.challenge,
          challenge: { ...h.challenge.challenge, orderId: `0x${'b2'.repeat(32)}` },
        },
      })),
      'WRONG_ORDER',
    ],
    [
      'a timestamp an hour in the past',
      answer((h) => ({ ...h, timestamp: Date.now() - 3_600_000 })),
      'STALE',
    ],
    [
      'a timestamp an hour in the future',
      answer((h) => ({ ...h, timestamp: Date.now() + 3_600_000 })),
      'STALE',
    ],
    ['invalid JSON', (_q, res) => res.writeHead(200).end('{"heartbeat": '), 'MALFORMED'],
    ['a 10 MB body', (_q, res) => res.writeHead(200).end(Buffer.alloc(10 * 1024 * 1024, 0x20)), 'TOO_LARGE'],
    [
      'a redirect to another host',
      (_q, res) => res.writeHead(302, { location: 'http://example.org/v1/heartbeat' }).end(),
      'REFUSED',
    ],
    [
      'a provider that trickles bytes (slowloris)',
      (_q, res) => {
        res.writeHead(200)
        const t = setInterval(() => (res.writableEnded ? clearInterval(t) : res.write(' ')), 100)
        res.on('close', () => clearInterval(t))
      },
      'TIMEOUT',
    ],
  ]
  for (const [what, behaviour, code] of cases) {
    it(`rejects ${what} with ${code}, stores nothing, and keeps probing`, async () => {
      hostile.set(behaviour)
      const p = prober()
      expect(await p.probeOnce(order(), 5)).toBe(code)
      expect(await store.listHeartbeats(order().id)).toEqual([])
      expect(await probeCount(code)).toBe(1)
      hostile.set(answer())
      expect(await p.probeOnce(order(), 5)).toBe('OK')
    })
  }

  it("rejects an answer to another relayer's challenge", async () => {
    hostile.set(
      answer((h) => {
        const challenge = { ...h.challenge.challenge, relayerId: 'r2', relayerKey: otherRelayer.publicKey }
        return {
          ...h,
          challenge: {
            challenge,
            signature: otherRelayer.sign(Buffer.from(`qantara/challenge/v1\n${canonicalJson(challenge)}`)),
          },
        }
      }),
    )
    expect(await prober().probeOnce(order(), 5)).toBe('UNKNOWN_NONCE')
    expect(await store.listHeartbeats(order().id)).toEqual([])
  })

  it("keeps the slot's heartbeat when its first answer was lost and the retry comes after the challenge book forgot it", async () => {
    let saved: string | undefined
    hostile.set((req, res, body) => {
      if (saved) return res.writeHead(200).end(saved)
      // The agent signs the slot's heartbeat and keeps it; its answer never arrives (the relayer times out).
      answer()(req, { writeHead: () => ({ end: (b: string) => void (saved = b) }) } as never, body)
    })
    let later = 0
    const p = prober(true, 1_000, () => Date.now() + later)
    expect(await p.probeOnce(order(), 5)).toBe('TIMEOUT')
    expect(saved).toBeDefined()
    // The retry, 40 s on (still in the slot): the book has dropped the first challenge, which the agent's answer names.
    later = 40_000
    expect(await p.probeOnce(order(), 5)).toBe('OK')
    expect((await store.listHeartbeats(order().id)).map((h) => h.slot)).toEqual([5])
  })

  it('keeps a replayed answer once: the same answer to two challenges of the slot is a duplicate', async () => {
    let saved: string | undefined
    hostile.set((req, res, body) => {
      if (saved) return res.writeHead(200).end(saved)
      answer()(
        req,
        {
          writeHead: () => ({
            end: (b: string) => {
              saved = b
              res.writeHead(200).end(b)
            },
          }),
        } as never,
        body,
      )
    })
    const p = prober()
    expect(await p.probeOnce(order(), 5)).toBe('OK')
    expect(await p.probeOnce(order(), 5)).toBe('DUPLICATE')
    expect(await store.listHeartbeats(order().id)).toHaveLength(1)
  })

  it('refuses a provider endpoint on 127.0.0.1 unless private endpoints are allowed', async () => {
    hostile.set(answer())
    expect(await prober(false).probeOnce(order(), 5)).toBe('REFUSED')
    expect(await store.listHeartbeats(order().id)).toEqual([])
  })

  const unoffered: [string, Partial<OrderTerms>, string][] = [
    [
      "pays the provider's share to an address its record does not give (the renter's own)",
      { payout: '0xr' },
      'PAYOUT_NOT_OFFERED',
    ],
    [
      'is in a token the record does not price',
      { token: '0x0000000000000000000000000000000000000bad' },
      'TOKEN_NOT_OFFERED',
    ],
    ['has a slot length the record does not price', { slotLength: 30 }, 'TOKEN_NOT_OFFERED'],
    ['pays less per slot than the record asks', { amount: 999n }, 'BELOW_PRICE'],
    [
      'rents a GPU class the record does not list',
      { gpu: { class: 'hopper-h100', count: 1, minVramMiB: 0 } },
      'GPU_NOT_OFFERED',
    ],
    [
      'rents more GPUs than the record lists',
      { gpu: { ...REFERENCE_ORDER_GPU, count: 2 } },
      'GPU_NOT_OFFERED',
    ],
    // The attack: the provider's real payout as the fallback (so the payout check passes) and a solver quote for the renter's own script.
    [
      "pays the provider's share in BTC to a script its record does not list (the renter's own)",
      { btc: btcPayout(RENTER_SCRIPT) },
      'BTC_SCRIPT_NOT_OFFERED',
    ],
  ]
  for (const [what, terms, code] of unoffered) {
    it(`does not probe an order that ${what}: ${code}, and the agent is never asked`, async () => {
      let asked = 0
      hostile.set((q, res, b) => {
        asked++
        answer()(q, res, b)
      })
      expect(await prober().probeOnce({ ...order(), ...terms }, 5)).toBe(code)
      expect(asked).toBe(0)
      expect(await store.listHeartbeats(order().id)).toEqual([])
      expect(await prober().probeOnce(order(), 5)).toBe('OK')
    })
  }

  it('probes a BTC order paying a script the record lists, and retries no BTC order paying another', async () => {
    let asked = 0
    hostile.set((q, res, b) => {
      asked++
      answer()(q, res, b)
    })
    const p = prober()
    expect(await p.probeOnce({ ...order(), btc: btcPayout(PROVIDER_SCRIPT) }, 5)).toBe('OK')
    expect(asked).toBe(1)
    // Scheduled for real: a mismatch is not retried inside the slot, so the agent is never asked about the renter's script.
    const controller = new AbortController()
    const stolen = {
      ...order(`0x${'c3'.repeat(32)}`),
      btc: btcPayout(RENTER_SCRIPT),
      start: BigInt(Math.floor(Date.now() / 1000)),
      slotLength: 2,
      slots: 1,
    }
    // A scheduled probe reads its order from the store when it is sent: it is there, active.
    await store.insertOrder(stolen, Date.now())
    expect(await store.transitionOrder(stolen.id, ['opened'], 'active', {}, Date.now())).toBe(true)
    expect(p.schedule(stolen, controller.signal)).toBe(0)
    await new Promise((ok) => setTimeout(ok, 2_500))
    controller.abort()
    await p.drain()
    expect(asked).toBe(1)
    expect(await store.listHeartbeats(stolen.id)).toEqual([])
    expect(await probeCount('BTC_SCRIPT_NOT_OFFERED')).toBe(1)
  })

  it('sends a scheduled probe only while its order is active in the store: one refunded before its instant is not asked', async () => {
    let asked = 0
    hostile.set((q, res, b) => {
      asked++
      answer()(q, res, b)
    })
    const p = prober()
    const controller = new AbortController()
    // 50 s into a 60 s slot: past the window probe instants are drawn from, so each is sent at once.
    const start = BigInt(Math.floor(Date.now() / 1000) - 50)
    const kept = { ...order(`0x${'d1'.repeat(32)}`), start, slots: 1 }
    const refunded = { ...order(`0x${'d2'.repeat(32)}`), start, slots: 1 }
    for (const o of [kept, refunded]) {
      await store.insertOrder(o, Date.now())
      await store.transitionOrder(o.id, ['opened'], 'active', {}, Date.now())
    }
    // The renter reclaims one after the tick read it as active: its probe is scheduled all the same.
    expect(await store.transitionOrder(refunded.id, ['active'], 'refunded', {}, Date.now())).toBe(true)
    for (const o of [kept, refunded]) expect(p.schedule(o, controller.signal)).toBe(0)
    await new Promise((ok) => setTimeout(ok, 500))
    controller.abort()
    await p.drain()
    expect(asked).toBe(1)
    expect((await store.listHeartbeats(kept.id)).map((h) => h.slot)).toEqual([0])
    expect(await store.listHeartbeats(refunded.id)).toEqual([])
  })

  it('reports an order whose provider has no record', async () => {
    const stranger = { ...order(), providerId: generateEd25519().signer.publicKey }
    expect(await prober().probeOnce(stranger, 5)).toBe('NO_PROVIDER_RECORD')
  })
})
