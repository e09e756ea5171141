import { readFileSync } from 'node:fs'
import { merkleLeafHash } from '../src/merkle.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { computeSettlement, type HeartbeatFact } from '../src/computeSettlement.js'

interface Vector {
  description: string
  threshold: number
  feeBps: number
  order: { id: string; amount: string; slots: number }
  heartbeats: { slot: number; relayerId: string; leaf: string }[]
  expected: {
    upSlots: number
    toProvider: string
    toRenter: string
    fee: string
    uptime: string
    reason: string
    heartbeatRoot: string
  }
}
const { cases } = JSON.parse(
  readFileSync(new URL('./fixtures/settlement-vectors.json', import.meta.url), 'utf8'),
) as { cases: Vector[] }

const ORDER_ID = `0x${'ab'.repeat(32)}` as const
const fact = (slot: number, relayerId: string, orderId: string = ORDER_ID): HeartbeatFact => ({
  orderId,
  slot,
  relayerId,
  leafHash: merkleLeafHash(`${orderId}:${slot}:${relayerId}`),
})

describe('computeSettlement: shared vectors', () => {
  for (const v of cases) {
    it(v.description, () => {
      const order = { id: v.order.id as `0x${string}`, amount: BigInt(v.order.amount), slots: v.order.slots }
      const facts = v.heartbeats.map((h) => ({
        orderId: v.order.id,
        slot: h.slot,
        relayerId: h.relayerId,
        leafHash: merkleLeafHash(Buffer.from(h.leaf.slice(2), 'hex')),
      }))
      const { settlement, reason, uptime } = computeSettlement(order, facts, {
        threshold: v.threshold,
        feeBps: v.feeBps,
        feeRecipient: '0xfee',
      })
      expect({
        upSlots: settlement.upSlots,
        toProvider: settlement.toProvider.toString(),
        toRenter: settlement.toRenter.toString(),
        fee: settlement.fee.toString(),
        uptime,
        reason,
        heartbeatRoot: settlement.heartbeatRoot,
      }).toEqual(v.expected)
    })
  }
})

const arbInput = fc.record({
  amount: fc.bigInt({ min: 1n, max: 2n ** 128n }),
  slots: fc.integer({ min: 1, max: 64 }),
  threshold: fc.integer({ min: 1, max: 4 }),
  feeBps: fc.integer({ min: 0, max: 1_000 }),
  seen: fc.array(fc.tuple(fc.integer({ min: 0, max: 63 }), fc.constantFrom('r1', 'r2', 'r3', 'r4', 'r5')), {
    maxLength: 200,
  }),
})

describe('computeSettlement: properties', () => {
  it('always splits exactly the order amount, never negative', () => {
    fc.assert(
      fc.property(arbInput, ({ amount, slots, threshold, feeBps, seen }) => {
        const { settlement: s } = computeSettlement(
          { id: ORDER_ID, amount, slots },
          seen.map(([slot, r]) => fact(slot, r)),
          { threshold, feeBps, feeRecipient: '0xfee' },
        )
        expect(s.toProvider + s.toRenter + s.fee).toBe(amount)
        expect(s.toProvider >= 0n && s.toRenter >= 0n && s.fee >= 0n).toBe(true)
      }),
    )
  })

  it('pays the provider no less when more slots are up', () => {
    fc.assert(
      fc.property(arbInput, fc.integer({ min: 0, max: 63 }), ({ amount, slots, feeBps, seen }, extra) => {
        const policy = { threshold: 1, feeBps, feeRecipient: '0xfee' }
        const base = computeSettlement(
          { id: ORDER_ID, amount, slots },
          seen.map(([slot, r]) => fact(slot, r)),
          policy,
        ).settlement
        const more = computeSettlement(
          { id: ORDER_ID, amount, slots },
          [...seen.map(([slot, r]) => fact(slot, r)), fact(extra % slots, 'r9')],
          policy,
        ).settlement
        expect(more.upSlots).toBeGreaterThanOrEqual(base.upSlots)
        expect(more.toProvider).toBeGreaterThanOrEqual(base.toProvider)
        expect(more.toRenter).toBeLessThanOrEqual(base.toRenter)
      }),
    )
  })

  it('never pays a slot held by fewer than threshold distinct relayers', () => {
    fc.assert(
      fc.property(arbInput, ({ amount, slots, threshold, feeBps, seen }) => {
        const { settlement, uptime } = computeSettlement(
          { id: ORDER_ID, amount, slots },
          seen.map(([slot, r]) => fact(slot, r)),
          { threshold, feeBps, feeRecipient: '0xfee' },
        )
        for (let slot = 0; slot < slots; slot++) {
          const distinct = new Set(seen.filter(([s]) => s === slot).map(([, r]) => r)).size
          expect(uptime[slot]).toBe(distinct >= threshold ? '1' : '0')
        }
        expect(settlement.upSlots).toBe([...uptime].filter((c) => c === '1').length)
      }),
    )
  })

  it('gives the same bytes whatever order the heartbeats arrive in', () => {
    fc.assert(
      fc.property(arbInput, fc.integer(), ({ amount, slots, threshold, feeBps, seen }, seed) => {
        const facts = seen.map(([slot, r]) => fact(slot, r))
        const shuffled = [...facts].sort((a, b) => ((a.slot * 31 + seed) % 97) - ((b.slot * 31 + seed) % 97))
        const policy = { threshold, feeBps, feeRecipient: '0xfee' }
        expect(computeSettlement({ id: ORDER_ID, amount, slots }, shuffled, policy)).toEqual(
          computeSettlement({ id: ORDER_ID, amount, slots }, facts, policy),
        )
      }),
    )
  })

  it('ignores heartbeats of other orders', () => {
    const own = [fact(0, 'r1'), fact(1, 'r1')]
    const policy = { threshold: 1, feeBps: 0, feeRecipient: '0xfee' }
    const order = { id: ORDER_ID, amount: 100n, slots: 2 }
    expect(computeSettlement(order, [...own, fact(0, 'r2', `0x${'cd'.repeat(32)}`)], policy)).toEqual(
      computeSettlement(order, own, policy),
    )
  })
})
