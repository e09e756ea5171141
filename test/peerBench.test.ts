import { describe, expect, it } from 'vitest'
import { PeerBench } from '../src/peer/peerBench.js'

describe('PeerBench', () => {
  it('benches a peer on its 17th invalid item within a minute, and only that peer', () => {
    const bench = new PeerBench()
    const spent = Array.from({ length: 17 }, () => bench.spendInvalid('p1'))
    expect(spent.indexOf(true)).toBe(16)
    expect(bench.benched('p1')).toBe(true)
    expect(bench.benched('p2')).toBe(false)
    // Benched for a minute, then pulled from again.
    expect(bench.benched('p1', Date.now() + 61_000)).toBe(false)
  })

  it('weighs an item by what it cost: one transcript of 17 products benches at once', () => {
    const bench = new PeerBench()
    expect(bench.spendInvalid('p1', 16)).toBe(false)
    expect(bench.benched('p1')).toBe(false)
    expect(new PeerBench().spendInvalid('p2', 17)).toBe(true)
  })
})
