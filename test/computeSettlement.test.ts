import { readFileSync } from 'node:fs'
import { merkleLeafHash } from '../src/merkle.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { computeSettlement, type HeartbeatFact } from '../src/computeSettlement.js'
import type { GpuSeen } from '../src/gpu/telemetryMatch.js'
import { REFERENCE_ORDER_GPU, referenceGpu } from '../devkit/gpu/referenceGpu.js'

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
const REFERENCE = referenceGpu()
const SEEN = [{ name: REFERENCE.name, uuid: REFERENCE.uuid, memoryTotalMiB: REFERENCE.memoryTotalMiB }]
const fact = (
  slot: number,
  relayerId: string,
  orderId: string = ORDER_ID,
  gpus: GpuSeen[] | null = SEEN,
): HeartbeatFact => ({
  orderId,
  slot,
  relayerId,
  leafHash: merkleLeafHash(`${orderId}:${slot}:${relayerId}:${JSON.stringify(gpus)}`),
  gpus,
})
const gpu = REFERENCE_ORDER_GPU

describe('computeSettlement: shared vectors', () => {
  for (const v of cases) {
    it(v.description, () => {
      const order = {
        id: v.order.id as `0x${string}`,
        amount: BigInt(v.order.amount),
        slots: v.order.slots,
        gpu,
      }
      const facts = v.heartbeats.map((h) => ({
        orderId: v.order.id,
        slot: h.slot,
        relayerId: h.relayerId,
        leafHash: merkleLeafHash(Buffer.from(h.leaf.slice(2), 'hex')),
        gpus: SEEN,
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
          { id: ORDER_ID, amount, slots, gpu },
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
          { id: ORDER_ID, amount, slots, gpu },
          seen.map(([slot, r]) => fact(slot, r)),
          policy,
        ).settlement
        const more = computeSettlement(
          { id: ORDER_ID, amount, slots, gpu },
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
          { id: ORDER_ID, amount, slots, gpu },
          seen.map(([slot, r]) => fact(slot, r)),
          { threshold, feeBps, feeRecipient: '0xfee' },
        )
        for (let slot = 0; slot < slots; slot++) {
          const distinct = new Set(seen.filter(([s]) => s === slot).map(([, r]) => r)).size
          expect(uptime[slot]).toBe(distinct >= threshold ? 'T' : '.')
        }
        expect(settlement.upSlots).toBe([...uptime].filter((c) => c === 'T').length)
      }),
    )
  })

  it('gives the same bytes whatever order the heartbeats arrive in', () => {
    fc.assert(
      fc.property(arbInput, fc.integer(), ({ amount, slots, threshold, feeBps, seen }, seed) => {
        const facts = seen.map(([slot, r]) => fact(slot, r))
        const shuffled = [...facts].sort((a, b) => ((a.slot * 31 + seed) % 97) - ((b.slot * 31 + seed) % 97))
        const policy = { threshold, feeBps, feeRecipient: '0xfee' }
        expect(computeSettlement({ id: ORDER_ID, amount, slots, gpu }, shuffled, policy)).toEqual(
          computeSettlement({ id: ORDER_ID, amount, slots, gpu }, facts, policy),
        )
      }),
    )
  })

  it('ignores heartbeats of other orders', () => {
    const own = [fact(0, 'r1'), fact(1, 'r1')]
    const policy = { threshold: 1, feeBps: 0, feeRecipient: '0xfee' }
    const order = { id: ORDER_ID, amount: 100n, slots: 2, gpu }
    expect(computeSettlement(order, [...own, fact(0, 'r2', `0x${'cd'.repeat(32)}`)], policy)).toEqual(
      computeSettlement(order, own, policy),
    )
  })
})

describe('computeSettlement: the ordered GPUs', () => {
  const h100 = (uuid: string, memoryTotalMiB = 81_559): GpuSeen => ({
    name: 'NVIDIA H100 80GB HBM3',
    uuid,
    memoryTotalMiB,
  })
  const order = {
    id: ORDER_ID,
    amount: 4_000n,
    slots: 4,
    gpu: { class: 'hopper-h100', count: 1, minVramMiB: 80_000 },
  }
  const policy = { threshold: 2, feeBps: 0, feeRecipient: '' }
  const bothRelayers = (slot: number, gpus: GpuSeen[] | null) => [
    fact(slot, 'r1', ORDER_ID, gpus),
    fact(slot, 'r2', ORDER_ID, gpus),
  ]
  const settle = (facts: HeartbeatFact[]) => computeSettlement(order, facts, policy)

  it('pays every slot whose telemetry shows the ordered GPU to a quorum of relayers', () => {
    const r = settle([0, 1, 2, 3].flatMap((s) => bothRelayers(s, [h100('GPU-1')])))
    expect(r.uptime).toBe('TTTT')
    expect(r.settlement.toProvider).toBe(4_000n)
  })

  it('pays nothing for slots with no GPU in the telemetry (GPU_MISSING), though every heartbeat came', () => {
    const r = settle([
      ...bothRelayers(0, [h100('GPU-1')]),
      ...bothRelayers(1, null),
      ...bothRelayers(2, null),
      ...bothRelayers(3, [h100('GPU-1')]),
    ])
    expect(r.uptime).toBe('TMMT')
    expect(r.settlement.toProvider).toBe(2_000n)
    expect(r.settlement.toRenter).toBe(2_000n)
  })

  it('pays nothing for another model or less memory than ordered (GPU_MISMATCH)', () => {
    const rtx = { name: 'NVIDIA GeForce RTX 4090', uuid: 'GPU-9', memoryTotalMiB: 24_564 }
    const r = settle([
      ...bothRelayers(0, [rtx]),
      ...bothRelayers(1, [h100('GPU-1', 40_000)]),
      ...bothRelayers(2, [h100('GPU-1')]),
      ...bothRelayers(3, [h100('GPU-1')]),
    ])
    expect(r.uptime).toBe('WWTT')
  })

  it('holds the provider to the GPUs of its first matched slot: a swap mid-order loses every slot after it', () => {
    const r = settle([
      ...bothRelayers(0, [h100('GPU-1')]),
      ...bothRelayers(1, [h100('GPU-1')]),
      ...bothRelayers(2, [h100('GPU-2')]),
      ...bothRelayers(3, [h100('GPU-2')]),
    ])
    expect(r.uptime).toBe('TTWW')
    expect(r.settlement.upSlots).toBe(2)
  })

  it('keeps paying a provider that adds a GPU beside the ordered one', () => {
    const r = settle([
      ...bothRelayers(0, [h100('GPU-1')]),
      ...bothRelayers(1, [h100('GPU-1'), h100('GPU-0')]),
    ])
    expect(r.uptime).toBe('TT..')
  })

  it('needs a quorum of matching records: one relayer seeing the GPU is not enough at threshold 2', () => {
    const r = settle([fact(0, 'r1', ORDER_ID, [h100('GPU-1')]), fact(0, 'r2', ORDER_ID, null)])
    expect(r.uptime).toBe('M...')
    const once = settle([fact(0, 'r1', ORDER_ID, [h100('GPU-1')])])
    expect(once.uptime).toBe('....')
  })

  it("settles the same bytes whichever relayer's view of an equivocating provider arrives first", () => {
    const facts = [
      fact(0, 'r1', ORDER_ID, [h100('GPU-1')]),
      fact(0, 'r2', ORDER_ID, [h100('GPU-2')]),
      fact(0, 'r3', ORDER_ID, [h100('GPU-2')]),
      ...bothRelayers(1, [h100('GPU-1')]),
      fact(1, 'r3', ORDER_ID, [h100('GPU-2')]),
    ]
    const three = { ...policy, threshold: 2 }
    const a = computeSettlement(order, facts, three)
    expect(computeSettlement(order, [...facts].reverse(), three)).toEqual(a)
    // GPU-2 is what most relayers saw in the first matched slot; slot 1 shows it to one relayer only.
    expect(a.uptime).toBe('TW..')
  })

  it("counts a GPU only with a UUID, a known memory size and the class's product name", () => {
    const noUuid = { ...h100(''), uuid: '' }
    const noMemory = { ...h100('GPU-1'), memoryTotalMiB: null }
    const lookalike = { name: 'Totally an H1000', uuid: 'GPU-1', memoryTotalMiB: 81_559 }
    for (const g of [noUuid, noMemory, lookalike]) expect(settle(bothRelayers(0, [g])).uptime[0]).toBe('W')
  })
})

describe('computeSettlement: compute challenges', () => {
  const order = { id: ORDER_ID, amount: 3_000n, slots: 3, gpu: REFERENCE_ORDER_GPU }
  const policy = { threshold: 2, feeBps: 0, feeRecipient: '' }
  const record = (slot: number, relayerId: string, compute: HeartbeatFact['compute']): HeartbeatFact => ({
    ...fact(slot, relayerId),
    compute,
  })

  it('marks a slot compute-verified when a valid quorum holds a passed challenge', () => {
    const r = computeSettlement(
      order,
      [record(0, 'r1', 'passed'), record(0, 'r2', null), record(1, 'r1', null), record(1, 'r2', null)],
      policy,
    )
    expect(r.uptime).toBe('CT.')
    expect(r.settlement.upSlots).toBe(2)
  })

  it("does not count a challenged relayer's record until its challenge passed: unanswered or late is no vote", () => {
    const r = computeSettlement(order, [record(0, 'r1', 'unanswered'), record(0, 'r2', null)], policy)
    expect(r.uptime).toBe('U..')
    const three = computeSettlement(
      order,
      [record(0, 'r1', 'unanswered'), record(0, 'r2', null), record(0, 'r3', null)],
      policy,
    )
    expect(three.uptime).toBe('T..')
  })

  it('puts a slot down for everyone on one provider-signed wrong answer, whatever the other relayers hold', () => {
    const r = computeSettlement(
      order,
      [record(0, 'r1', 'failed'), record(0, 'r2', 'passed'), record(0, 'r3', null)],
      policy,
    )
    expect(r.uptime).toBe('X..')
    expect(r.settlement.toProvider).toBe(0n)
  })

  it("voids the telemetry-only slots since the last proof when a check fails: the provider's telemetry is worth nothing unproven", () => {
    const long = { ...order, amount: 8_000n, slots: 8 }
    const up = (slot: number) => [record(slot, 'r1', null), record(slot, 'r2', null)]
    const checked = (slot: number, verdict: 'passed' | 'unanswered' | 'failed' | 'declined') => [
      record(slot, 'r1', verdict),
      record(slot, 'r2', verdict),
    ]
    const r = computeSettlement(
      long,
      [
        ...up(0),
        ...checked(1, 'passed'),
        ...up(2),
        ...up(3),
        ...checked(4, 'unanswered'),
        ...up(5),
        ...up(7),
      ],
      policy,
    )
    // Slots 2 and 3 were never proved before the failed check at 4; slot 0 was, by the pass at 1; 5 and 7 await the next check.
    expect(r.uptime).toBe('TCVVUT.T')
    expect(r.settlement.upSlots).toBe(4)
    for (const failed of ['failed', 'declined'] as const)
      expect(
        computeSettlement(long, [...up(0), ...up(1), ...checked(2, failed)], policy).uptime.slice(0, 3),
      ).toBe(`VV${failed === 'failed' ? 'X' : 'D'}`)
  })

  it("counts a relayer's unanswered reveal when another relayer's challenge of the slot passed: the GPU computed", () => {
    const r = computeSettlement(order, [record(0, 'r1', 'passed'), record(0, 'r2', 'unanswered')], policy)
    expect(r.uptime).toBe('C..')
  })

  it('reads a plain heartbeat in a scheduled slot as an unanswered check, and a dark scheduled slot as an outage only', () => {
    const long = { ...order, amount: 8_000n, slots: 8 }
    const up = (slot: number) => [record(slot, 'r1', null), record(slot, 'r2', null)]
    const heard = [...up(0), ...up(1), ...up(2), ...up(4), ...up(5)]
    const scheduled = (slot: number) => slot === 3 || slot === 5
    const r = computeSettlement(long, heard, { ...policy, scheduled })
    // Slot 3 was dark: the provider could not have known it was checked, so it is down and no more. At slot 5 it signed
    // the heartbeat and then took no check: everything since its last proof (none) is void.
    expect(r.uptime).toBe('VVV.VU..')
    expect(r.settlement.upSlots).toBe(0)
    expect(computeSettlement(long, heard, policy).uptime).toBe('TTT.TT..')
  })

  it('reads a checked slot one relayer heard and no quorum did as an unanswered check: the provider went dark once a check told it the slot was checked', () => {
    const long = { ...order, amount: 8_000n, slots: 8 }
    const up = (slot: number) => [record(slot, 'r1', null), record(slot, 'r2', null)]
    const heard = [...up(0), ...up(1), record(2, 'r1', 'unanswered'), ...up(3)]
    const scheduled = (slot: number) => slot === 2
    expect(computeSettlement(long, heard, { ...policy, scheduled }).uptime).toBe('VVUT....')
    expect(computeSettlement(long, heard, policy).uptime).toBe('TT.T....')
    // One relayer's check of the slot passed: the GPU was there, and the missing quorum is the network's doing.
    const proved = [...up(0), ...up(1), record(2, 'r1', 'passed'), ...up(3)]
    expect(computeSettlement(long, proved, { ...policy, scheduled }).uptime).toBe('TT.T....')
  })

  it('voids like a failed check a checked slot the provider showed no GPU, or other GPUs, in: it cannot dodge the check by changing its telemetry', () => {
    const long = { ...order, amount: 8_000n, slots: 8 }
    const up = (slot: number) => [record(slot, 'r1', null), record(slot, 'r2', null)]
    const gpuLess = (slot: number) => [
      { ...record(slot, 'r1', 'unanswered'), gpus: null },
      { ...record(slot, 'r2', null), gpus: null },
    ]
    const heard = [...up(0), ...up(1), ...gpuLess(2), ...up(3)]
    expect(computeSettlement(long, heard, { ...policy, scheduled: (slot) => slot === 2 }).uptime).toBe(
      'VVMT....',
    )
    // Unchecked, no GPU in the telemetry is that slot down and no more.
    expect(computeSettlement(long, heard, policy).uptime).toBe('TTMT....')
  })

  it('pays telemetry after the last proof nothing when the closing slots are checked: the order must end on a proof', () => {
    const long = { ...order, amount: 8_000n, slots: 8 }
    const up = (slot: number) => [record(slot, 'r1', null), record(slot, 'r2', null)]
    const closing = { ...policy, scheduled: (slot: number) => slot >= 5 }
    const telemetryOnly = [0, 1, 2, 3, 4].flatMap(up)
    const proved = [...telemetryOnly, record(5, 'r1', 'passed'), record(5, 'r2', 'passed')]
    // Dark in the closing slots after a proof at 5: paid to it. Dark in all of them: the telemetry proves nothing.
    expect(computeSettlement(long, proved, closing).uptime).toBe('TTTTTC..')
    expect(computeSettlement(long, telemetryOnly, closing).uptime).toBe('VVVVV...')
    // Without closing checks (no challenges, or a class without a challenge size), telemetry stands.
    expect(computeSettlement(long, telemetryOnly, policy).uptime).toBe('TTTTT...')
  })

  it("takes a relayer's heartbeat answering the compute challenge as its record, over its plain one of the slot", () => {
    const plain = { ...record(0, 'r1', null), leafHash: `0x${'00'.repeat(32)}` }
    const checked = { ...record(0, 'r1', 'failed'), leafHash: `0x${'ff'.repeat(32)}` }
    for (const facts of [
      [plain, checked],
      [checked, plain],
    ])
      expect(computeSettlement(order, [...facts, record(0, 'r2', 'passed')], policy).uptime).toBe('X..')
  })
})
