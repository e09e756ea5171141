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
    expect([0, 1, 2, 3, 4].map((slot) => book.get(AnswerBook.key('r', 'o', slot), 10))).toEqual([undefined, undefined, { body: 'b2' }, { body: 'b3' }, { body: 'b4' }])
  })
})
