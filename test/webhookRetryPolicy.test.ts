import { describe, expect, it } from 'vitest'
import { DEFAULT_RETRY_POLICY, nextStep, type AttemptResult } from '../src/webhooks/retryPolicy.js'
import { Fifo, MinHeap } from '../src/webhooks/queues.js'

const policy = DEFAULT_RETRY_POLICY
const step = (result: AttemptResult, attempts = 1, ageMs = 0, random = 0.5) =>
  nextStep({ result, attempts, ageMs, policy, random: () => random })

describe('webhook retry policy', () => {
  it('counts any 2xx as delivered', () => {
    expect([200, 201, 202, 204, 299].map((status) => step({ status }).kind)).toEqual(
      Array(5).fill('delivered'),
    )
  })

  it('fails for good on a 4xx other than 408 and 429, and on a redirect', () => {
    for (const status of [400, 401, 403, 404, 410, 413, 422, 301, 302, 307, 308])
      expect(step({ status }).kind, `HTTP ${status}`).toBe('failed')
    expect(step({ status: 307 })).toEqual({ kind: 'failed', reason: 'HTTP 307: redirects are not followed' })
  })

  it('retries 5xx, 408, 429, timeouts and connection errors', () => {
    const results: AttemptResult[] = [
      { status: 500 },
      { status: 502 },
      { status: 503 },
      { status: 408 },
      { status: 429 },
      { error: 'no answer within 5000 ms' },
      { error: 'connect ECONNREFUSED 127.0.0.1:1' },
    ]
    expect(results.map((r) => step(r).kind)).toEqual(Array(results.length).fill('retry'))
  })

  it('doubles the backoff per attempt up to maxDelayMs, with jitter between half and all of it', () => {
    const delay = (attempts: number, random: number) => {
      const s = step({ status: 500 }, attempts, 0, random)
      return s.kind === 'retry' ? s.delayMs : undefined
    }
    expect([1, 2, 3, 4].map((a) => delay(a, 0))).toEqual([1_000, 2_000, 4_000, 8_000])
    expect([1, 2, 3, 4].map((a) => delay(a, 0.999_999))).toEqual([2_000, 4_000, 8_000, 16_000])
    expect(delay(7, 0)).toBe(policy.maxDelayMs / 2)
    expect(delay(7, 0.999_999)).toBe(policy.maxDelayMs)
  })

  it("waits at least a 429's Retry-After, capped at maxDelayMs", () => {
    expect(step({ status: 429, retryAfterSeconds: 30 })).toEqual({ kind: 'retry', delayMs: 30_000 })
    expect(step({ status: 429, retryAfterSeconds: 86_400 })).toEqual({
      kind: 'retry',
      delayMs: policy.maxDelayMs,
    })
    expect(step({ status: 503, retryAfterSeconds: 0 })).toEqual({ kind: 'retry', delayMs: 1_500 })
  })

  it('gives up after maxAttempts, or when the next attempt would come after maxAgeMs', () => {
    expect(step({ status: 500 }, policy.maxAttempts - 1).kind).toBe('retry')
    expect(step({ status: 500 }, policy.maxAttempts)).toEqual({
      kind: 'failed',
      reason: `HTTP 500; gave up after ${policy.maxAttempts} attempts`,
    })
    expect(step({ error: 'down' }, 2, policy.maxAgeMs - 100)).toMatchObject({ kind: 'failed' })
  })
})

describe('webhook queues', () => {
  it('a Fifo gives items back in order across its compactions', () => {
    const q = new Fifo<number>()
    const out: number[] = []
    for (let i = 0; i < 5_000; i++) {
      q.push(i)
      if (i % 3 === 0) out.push(q.shift()!)
    }
    while (q.length > 0) out.push(q.shift()!)
    expect(out).toEqual(Array.from({ length: 5_000 }, (_, i) => i))
    expect(q.shift()).toBeUndefined()
  })

  it('a MinHeap pops in key order', () => {
    const keys = Array.from({ length: 500 }, (_, i) => (i * 7_919) % 1_009)
    const heap = new MinHeap<number>((k) => k)
    keys.forEach((k) => heap.push(k))
    const out: number[] = []
    while (heap.size > 0) out.push(heap.pop()!)
    expect(out).toEqual([...keys].sort((a, b) => a - b))
    expect(heap.pop()).toBeUndefined()
  })
})
