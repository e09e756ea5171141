import { describe, expect, it } from 'vitest'
import { AnswerBook } from '../src/agent/answerBook.js'

describe('AnswerBook', () => {
  const key = AnswerBook.key('0xrelayer', '0xorder', 7)

  it('gives the same bytes to a second question for the same slot, then a refusal once the bytes are dropped, never a fresh answer', () => {
    const book = new AnswerBook({ bodyTtlMs: 1_000, keyTtlMs: 10_000, maxEntries: 10 })
    expect(book.get(key, 0)).toBeUndefined()
    book.put(key, '{"hb":1}', 0)
    expect(book.get(key, 999)).toEqual({ body: '{"hb":1}' })
    expect(book.get(key, 1_000)).toBe('answered')
    expect(book.get(key, 9_999)).toBe('answered')
    expect(book.get(key, 10_000)).toBeUndefined()
    expect(book.get(AnswerBook.key('0xrelayer', '0xorder', 8), 500)).toBeUndefined()
  })

  it('holds at most maxEntries, dropping the oldest first', () => {
    const book = new AnswerBook({ bodyTtlMs: 1_000, keyTtlMs: 10_000, maxEntries: 3 })
    for (let slot = 0; slot < 5; slot++) book.put(AnswerBook.key('r', 'o', slot), `b${slot}`, slot)
    expect([0, 1, 2, 3, 4].map((slot) => book.get(AnswerBook.key('r', 'o', slot), 10))).toEqual([
      undefined,
      undefined,
      { body: 'b2' },
      { body: 'b3' },
      { body: 'b4' },
    ])
  })

  it('keeps bodies only for bodyTtlMs: after that only the small keys remain, however many answers there were', () => {
    const book = new AnswerBook({ bodyTtlMs: 1_000, keyTtlMs: 10_000, maxEntries: 100 })
    for (let slot = 0; slot < 50; slot++) book.put(AnswerBook.key('r', 'o', slot), 'x'.repeat(4_000), slot)
    expect(book.size).toEqual({ keys: 50, bodies: 50 })
    book.put(AnswerBook.key('r', 'o', 50), 'last', 1_030)
    expect(book.size).toEqual({ keys: 51, bodies: 20 })
    expect(book.get(AnswerBook.key('r', 'o', 0), 1_030)).toBe('answered')
    expect(book.get(AnswerBook.key('r', 'o', 49), 1_030)).toEqual({ body: 'x'.repeat(4_000) })
  })

  it('puts an expired key answered again at the back, so the cap drops the oldest answers and never the newest', () => {
    const book = new AnswerBook({ bodyTtlMs: 1_000, keyTtlMs: 10_000, maxEntries: 4 })
    const k = (name: string) => AnswerBook.key('r', name, 0)
    // The clock stepped back once: a was answered "before" b but sits after it, and x after both.
    book.put(k('b'), 'b', 5_000)
    book.put(k('a'), 'a', 0)
    book.put(k('x'), 'x', 6_000)
    expect(book.get(k('a'), 10_000)).toBeUndefined()
    book.put(k('a'), 'a2', 10_000)
    for (const [name, t] of [
      ['c', 10_001],
      ['d', 10_002],
      ['e', 10_003],
    ] as const)
      book.put(k(name), name, t)
    // Map.set on a key already there would have left a in its old place, ahead of x, and the cap would have dropped it: a second heartbeat for its slot.
    expect(['a', 'b', 'x', 'c', 'd', 'e'].map((name) => book.get(k(name), 10_004))).toEqual([
      { body: 'a2' },
      undefined,
      undefined,
      { body: 'c' },
      { body: 'd' },
      { body: 'e' },
    ])
  })
})
