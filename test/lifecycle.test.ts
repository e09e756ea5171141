import { CPU_REFERENCE_NAME } from '../src/gpu/classes.js'
import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { describe, expect, it } from 'vitest'
import type { ChainEvent } from '../src/chains.js'
import { computeSettlement } from '../src/computeSettlement.js'
import { BTC_PROOF_GRACE_SECONDS, type OrderTerms } from '../src/order.js'
import {
  LIVE_STATES,
  TERMINAL_STATES,
  btcPayoutStep,
  btcShareClosed,
  isTerminal,
  nextLook,
  onChainEvent,
  onClock,
  owedInBtc,
  payoutSeen,
  postRefused,
  posted,
  probing,
  settle,
  settlementDue,
  vaultShareKept,
} from '../src/orders/lifecycle.js'
import type { Settlement } from '../src/settlement.js'
import { ORDER_STATES, type OrderRecord, type OrderState } from '../src/orders/record.js'

// Slots of 60 s from t = 1_000: the order runs 1_000 … 1_600.
const terms: OrderTerms = {
  id: `0x${'ab'.repeat(32)}`,
  chain: 'eip155:31337',
  renter: '0xrenter',
  token: 'native',
  amount: 10n ** 18n,
  providerId: `0x${'cd'.repeat(32)}`,
  payout: '0xpayout',
  start: 1_000n,
  slotLength: 60,
  slots: 10,
  gpu: REFERENCE_ORDER_GPU,
}
// 50,000 sats per 10^18 units, deadline 5_000.
const btcTerms: OrderTerms = {
  ...terms,
  btc: {
    script: '0014aa',
    solver: '0xsolver',
    satsPerE18: 50_000n,
    payoutDeadline: 5_000n,
    maxAmount: 10n ** 18n,
    openBy: 900n,
    latestEnd: 2_000n,
  },
}
const policy = { graceSeconds: 30, gossipWindowSeconds: 5 }
const block = { height: 7n, hash: '0xblock' }

function record(state: OrderState, over: Partial<OrderRecord> = {}, t: OrderTerms = terms): OrderRecord {
  return { terms: t, state, updatedAt: 0, ...over }
}

function split(upSlots: number, t: OrderTerms = terms): Settlement {
  const heartbeats = Array.from({ length: upSlots }, (_, slot) => ({
    orderId: t.id,
    slot,
    relayerId: 'r1',
    leafHash: `0x${slot.toString(16).padStart(64, '0')}`,
    gpus: [{ name: CPU_REFERENCE_NAME, uuid: 'GPU-0', memoryTotalMiB: 16_384 }],
  }))
  return computeSettlement(t, heartbeats, { threshold: 1, feeBps: 0, feeRecipient: '' }).settlement
}

describe('order lifecycle: states', () => {
  it('splits the states into live and terminal, with nothing in both', () => {
    expect(TERMINAL_STATES).toEqual(['settled', 'refunded', 'disputed'])
    expect(LIVE_STATES).toEqual(['opened', 'active', 'ended', 'settling', 'payout-pending'])
    expect(ORDER_STATES.filter(isTerminal)).toEqual([...TERMINAL_STATES])
  })
})

describe('order lifecycle: the clock', () => {
  it('activates an opened order at its start and not a second before', () => {
    expect(onClock(record('opened'), 999)).toBeUndefined()
    expect(onClock(record('opened'), 1_000)).toEqual({ from: ['opened'], to: 'active', patch: {} })
  })

  it("ends an active order at its last slot's end, and an opened one that was never activated", () => {
    expect(onClock(record('active'), 1_599)).toBeUndefined()
    expect(onClock(record('active'), 1_600)).toEqual({ from: ['opened', 'active'], to: 'ended', patch: {} })
    expect(onClock(record('opened'), 5_000)?.to).toBe('ended')
  })

  it('moves no order past ended by the clock alone', () => {
    for (const state of ['ended', 'settling', 'payout-pending', ...TERMINAL_STATES] as const)
      expect(onClock(record(state), 1e9)).toBeUndefined()
  })

  it('makes a settlement due only after end + grace + gossip window, and only for an ended order', () => {
    expect(settlementDue(record('ended'), 1_634, policy)).toBe(false)
    expect(settlementDue(record('ended'), 1_635, policy)).toBe(true)
    expect(settlementDue(record('active'), 1e9, policy)).toBe(false)
    expect(settlementDue(record('settling'), 1e9, policy)).toBe(false)
  })

  it('probes only an active order before its end, and gossips until it settles', () => {
    expect(probing(record('active'), 1_599)).toBe(true)
    expect(probing(record('active'), 1_600)).toBe(false)
    expect(probing(record('opened'), 1_100)).toBe(false)
  })
})

describe('order lifecycle: settling and posting', () => {
  it('records the first settlement on an ended order and a recomputed one only on a settling order', () => {
    const result = computeSettlement(terms, [], { threshold: 1, feeBps: 0, feeRecipient: '' })
    expect(settle('ended', result)).toEqual({
      from: ['ended'],
      to: 'settling',
      patch: { settlement: result.settlement, reason: 'NO_SHOW', uptime: '.'.repeat(10) },
    })
    expect(settle('settling', result).from).toEqual(['settling'])
  })

  it('settles a posted order, or leaves it payout-pending while its provider is owed at least the BTC dust limit', () => {
    expect(posted(terms, split(10), '0xtx')).toEqual({
      from: ['settling'],
      to: 'settled',
      patch: { txHash: '0xtx' },
    })
    expect(posted(btcTerms, split(10, btcTerms), undefined)).toEqual({
      from: ['settling'],
      to: 'payout-pending',
      patch: {},
    })
    // One slot of ten: 10^17 units at 50,000 sats per 10^18 is 5,000 sats, above dust; none is nothing owed.
    expect(owedInBtc(btcTerms, split(1, btcTerms).toProvider)).toBe(true)
    expect(owedInBtc(btcTerms, 0n)).toBe(false)
    // 10^16 units are 500 sats: below the 546-sat dust limit, so nothing is owed in BTC.
    expect(owedInBtc(btcTerms, 10n ** 16n)).toBe(false)
    expect(owedInBtc(terms, 10n ** 18n)).toBe(false)
  })

  it('refunds a settling order the renter reclaimed first and disputes one the chain refuses for good', () => {
    expect(postRefused('reclaimed')).toEqual({ from: ['settling'], to: 'refunded', patch: {} })
    expect(postRefused('refused')).toEqual({ from: ['settling'], to: 'disputed', patch: {} })
  })
})

describe('order lifecycle: chain events', () => {
  const base = { chain: 'eip155:31337' as const, block, txHash: '0xtx', orderId: terms.id }

  it("takes the chain's split on OrderSettled, whatever this relayer computed, from any live state", () => {
    const onChain = split(4)
    const t = onChainEvent(record('ended', { settlement: split(9) }), {
      ...base,
      kind: 'OrderSettled',
      key: 'k',
      settlement: onChain,
    })
    expect(t).toEqual({
      from: LIVE_STATES,
      to: 'settled',
      patch: { txHash: '0xtx', settlement: onChain, reason: 'PARTIAL_DOWNTIME' },
    })
  })

  it("leaves a BTC order payout-pending on OrderSettled when the chain's split owes its provider", () => {
    const e: ChainEvent = { ...base, kind: 'OrderSettled', key: 'k', settlement: split(10, btcTerms) }
    expect(onChainEvent(record('settling', {}, btcTerms), e)?.to).toBe('payout-pending')
    expect(onChainEvent(record('settling', {}, btcTerms), { ...e, settlement: split(0, btcTerms) })?.to).toBe(
      'settled',
    )
  })

  it('settles on a proved payout or the fallback, refunds on a reclaim, and settles on a vault release', () => {
    const r = record('payout-pending', { settlement: split(3) })
    expect(onChainEvent(r, { ...base, kind: 'BtcPayoutProved', key: 'k', btcTxid: 'aa', sats: 5n })).toEqual({
      from: LIVE_STATES,
      to: 'settled',
      patch: { btcTxid: 'aa', btcSats: 5n },
    })
    expect(onChainEvent(r, { ...base, kind: 'BtcPayoutFallback', key: 'k' })?.to).toBe('settled')
    expect(onChainEvent(r, { ...base, kind: 'OrderReclaimed', key: 'k', amount: 1n })).toEqual({
      from: LIVE_STATES,
      to: 'refunded',
      patch: { txHash: '0xtx' },
    })
    expect(onChainEvent(r, { ...base, kind: 'VaultReleased', key: 'k', payments: [] })).toEqual({
      from: LIVE_STATES,
      to: 'settled',
      patch: { txHash: '0xtx', settlement: r.settlement },
    })
  })

  it("leaves a vault's BTC order payout-pending on its settlement release, and settles it on the release of its share", () => {
    const released = (payments: { owner: string; amount: bigint }[]): ChainEvent => ({
      ...base,
      kind: 'VaultReleased',
      key: 'k',
      payments,
    })
    const owed = split(10, btcTerms)
    expect(onChainEvent(record('settling', { settlement: owed }, btcTerms), released([]))?.to).toBe(
      'payout-pending',
    )
    const renterPaid = [{ owner: '0xrenter', amount: 10n ** 18n / 2n }]
    // Whatever this relayer computed, the BTC leg owes what the release kept: its settlement takes the chain's share.
    const stale = { ...owed, toProvider: 10n ** 17n }
    for (const state of ['settling', 'payout-pending'] as const)
      expect(onChainEvent(record(state, { settlement: stale }, btcTerms), released(renterPaid))).toEqual({
        from: LIVE_STATES,
        to: 'payout-pending',
        patch: { txHash: '0xtx', settlement: { ...stale, toProvider: 10n ** 18n / 2n } },
      })
    // A relayer that computed no settlement (a solver, one behind) reads the share kept from what the release paid.
    expect(vaultShareKept(btcTerms, renterPaid)).toBe(10n ** 18n / 2n)
    expect(onChainEvent(record('settling', {}, btcTerms), released(renterPaid))?.to).toBe('payout-pending')
    // Everything paid out, or too little kept to be owed in BTC: nothing is left for a BTC leg.
    const all = [{ owner: '0xrenter', amount: 10n ** 18n }]
    expect(onChainEvent(record('settling', {}, btcTerms), released(all))?.to).toBe('settled')
    const dust = [{ owner: '0xrenter', amount: 10n ** 18n - 10n ** 16n }]
    expect(onChainEvent(record('settling', {}, btcTerms), released(dust))?.to).toBe('settled')
    expect(
      onChainEvent(record('payout-pending', { settlement: owed }, btcTerms), {
        ...base,
        kind: 'VaultBtcShareReleased',
        key: 'k2',
        btcTxid: 'ab'.repeat(32),
        payments: [{ owner: '0xsolver', amount: owed.toProvider }],
      }),
    ).toEqual({ from: LIVE_STATES, to: 'settled', patch: { btcTxid: 'ab'.repeat(32) } })
  })

  it('ignores events for an order it does not hold and events that move no order', () => {
    expect(onChainEvent(undefined, { ...base, kind: 'OrderReclaimed', key: 'k', amount: 1n })).toBeUndefined()
    expect(
      onChainEvent(record('active'), { ...base, kind: 'BtcPayoutSeen', key: 'k', outputs: [] }),
    ).toBeUndefined()
    expect(
      onChainEvent(record('active'), {
        chain: base.chain,
        block,
        txHash: '0x',
        kind: 'RelayerSetUpdated',
        key: 'k',
        version: 2n,
        members: [],
        threshold: 1,
      }),
    ).toBeUndefined()
  })
})

describe('order lifecycle: the BTC leg', () => {
  const owed = split(10, btcTerms)
  const pending = (over: Partial<OrderRecord> = {}) =>
    record('payout-pending', { settlement: owed, ...over }, btcTerms)
  const paid = { btcTxid: 'aa', btcBlock: 'bb', btcSats: 50_000n }
  const windowEnd = Number(5_000n + BTC_PROOF_GRACE_SECONDS)

  it('keeps the first payout that pays what is owed, and replaces only one that paid too little', () => {
    expect(payoutSeen(pending(), 50_000n, 'aa', 'bb')).toEqual({
      from: ['payout-pending'],
      to: 'payout-pending',
      patch: paid,
    })
    expect(payoutSeen(pending(paid), 60_000n, 'cc', 'dd')).toBeUndefined()
    expect(payoutSeen(pending({ ...paid, btcSats: 10n }), 50_000n, 'cc', 'dd')?.patch.btcTxid).toBe('cc')
    expect(payoutSeen(pending(), 0n, 'aa', 'bb')).toBeUndefined()
    expect(payoutSeen(record('settled'), 50_000n, 'aa', 'bb')).toBeUndefined()
  })

  it('proves a payout until the proof window closes, and then never claims the fallback for it', () => {
    expect(btcPayoutStep(pending(paid), windowEnd, true)).toBe('prove')
    expect(btcPayoutStep(pending(paid), windowEnd + 1, true)).toBe('unprovable')
    expect(btcPayoutStep(pending({ ...paid, btcSats: 49_999n }), windowEnd + 1, true)).toBe('fallback')
  })

  it('claims the fallback only after the window, and only with a Bitcoin watcher caught up', () => {
    expect(btcPayoutStep(pending(), windowEnd, true)).toBe('wait')
    expect(btcPayoutStep(pending(), windowEnd + 1, false)).toBe('wait')
    expect(btcPayoutStep(pending(), windowEnd + 1, true)).toBe('fallback')
    expect(btcPayoutStep(pending({ btcTxid: 'aa', btcSats: 50_000n }), windowEnd, true)).toBe('wait')
  })

  it('closes the BTC share from payout-pending only', () => {
    expect(btcShareClosed({ btcTxid: 'aa' })).toEqual({
      from: ['payout-pending'],
      to: 'settled',
      patch: { btcTxid: 'aa' },
    })
  })
})

describe('order lifecycle: when the tick next looks at an order', () => {
  const policy = { graceSeconds: 30, gossipWindowSeconds: 10 }
  const at = (state: OrderState, nowS: number) => nextLook({ state, terms }, nowS * 1000, policy)

  it('looks at an active order once a slot, at the next slot start, and at its end', () => {
    expect(at('opened', 500)).toBe(1_000_000)
    expect(at('active', 1_000)).toBe(1_060_000)
    expect(at('active', 1_059.999)).toBe(1_060_000)
    expect(at('active', 1_060)).toBe(1_120_000)
    expect(at('active', 1_590)).toBe(1_600_000)
    // Past its end (the clock moved while the tick ran): at once.
    expect(at('active', 1_601)).toBe(1_601_000)
  })

  it('looks at an order starting past any clock hourly, as a whole number of ms', () => {
    const far = nextLook({ state: 'opened', terms: { ...terms, start: 2n ** 64n - 1n } }, 1_000_000.5, policy)
    expect(far).toBe(1_000_000 + 3_600_000)
  })

  it('looks at an ended order when its settlement is due, then every tick until it settles', () => {
    expect(at('ended', 1_639.5)).toBe(1_640_000)
    expect(at('ended', 1_640)).toBe(1_640_000)
    expect(at('settling', 1_700)).toBe(1_700_000)
    expect(at('payout-pending', 1_700)).toBe(1_705_000)
  })

  it('never looks at an order in a final state again', () => {
    for (const state of TERMINAL_STATES) expect(at(state, 1_000)).toBeNull()
  })
})
