import { describe, expect, it } from 'vitest'
import type { ChainEvent } from '../src/chains.js'
import { QantaraError } from '../src/errors.js'
import { consumeEvents } from '../src/orders/eventFeed.js'

const event = (n: number): ChainEvent => ({
  kind: 'OrderReclaimed',
  chain: 'eip155:1',
  key: `k${n}`,
  block: { height: 1n, hash: '0x' },
  txHash: `0x${n}`,
  orderId: `0x${n}`,
  amount: 1n,
})

function log(events: number) {
  let cursor = 0
  const rows = Array.from({ length: events }, (_, i) => ({ seq: i + 1, event: event(i + 1) }))
  return {
    get cursor() {
      return cursor
    },
    getCursor: () => Promise.resolve(cursor),
    setCursor: (_: string, seq: number) => Promise.resolve(void (cursor = seq)),
    listEvents: ({ afterSeq = 0, limit = 500 }: { afterSeq?: number; limit?: number }) =>
      Promise.resolve(rows.filter((r) => r.seq > afterSeq).slice(0, limit)),
  }
}

describe('event feed', () => {
  it('applies every event once, in order, across batches', async () => {
    const store = log(1_200)
    const seen: string[] = []
    await consumeEvents(
      store,
      'c',
      (e) => Promise.resolve(void seen.push(e.key)),
      () => undefined,
    )
    expect(seen).toHaveLength(1_200)
    expect(seen.slice(0, 3)).toEqual(['k1', 'k2', 'k3'])
    expect(store.cursor).toBe(1_200)
    await consumeEvents(
      store,
      'c',
      (e) => Promise.resolve(void seen.push(e.key)),
      () => undefined,
    )
    expect(seen).toHaveLength(1_200)
  })

  it('skips an event that fails on its own, and reports it', async () => {
    const store = log(3)
    const skipped: string[] = []
    const applied: string[] = []
    await consumeEvents(
      store,
      'c',
      (e) =>
        e.key === 'k2' ? Promise.reject(new Error('bad terms')) : Promise.resolve(void applied.push(e.key)),
      (e) => skipped.push(e.key),
    )
    expect([applied, skipped, store.cursor]).toEqual([['k1', 'k3'], ['k2'], 3])
  })

  it('stops at an event the store could not take, and applies it again next pass', async () => {
    const store = log(3)
    const applied: string[] = []
    let down = true
    const apply = (e: ChainEvent) =>
      e.key === 'k2' && down
        ? Promise.reject(new QantaraError('STORE_FAILED', 'busy', { retryable: true }))
        : Promise.resolve(void applied.push(e.key))
    await expect(consumeEvents(store, 'c', apply, () => undefined)).rejects.toMatchObject({
      code: 'STORE_FAILED',
    })
    expect([applied, store.cursor]).toEqual([['k1'], 1])
    down = false
    await consumeEvents(store, 'c', apply, () => undefined)
    expect([applied, store.cursor]).toEqual([['k1', 'k2', 'k3'], 3])
  })
})
