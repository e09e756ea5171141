import { describe, expect, it } from 'vitest'
import { isFinal, statusJson, statusText, type OrderStatus } from '../src/app/cli/orderStatusView.js'
import { answerProblem, type RelayerOrderAnswer } from '../src/app/cli/relayerOrder.js'

const ID = `0x${'01'.repeat(32)}`
const answer = (over: Partial<RelayerOrderAnswer> = {}): RelayerOrderAnswer => ({
  terms: {
    id: ID,
    chain: 'cosmos:qantara-local',
    renter: 'cosmos1renter',
    token: 'uatom',
    amount: 6_000_000n,
    providerId: `0x${'ab'.repeat(32)}`,
    payout: 'cosmos1payout',
    start: 1_800_000_000n,
    slotLength: 60,
    slots: 6,
    gpu: { class: 'hopper-h100', count: 1, minVramMiB: 0 },
  },
  state: 'settled',
  settlement: {
    toProvider: 4_750_000n,
    toRenter: 1_000_000n,
    fee: 250_000n,
    feeRecipient: 'cosmos1fee',
    upSlots: 5,
    totalSlots: 6,
    heartbeatRoot: `0x${'cd'.repeat(32)}`,
  },
  reason: 'PARTIAL_DOWNTIME',
  uptime: 'CTTT.T',
  end: 1_800_000_360n,
  ...over,
})
const status = (over: Partial<OrderStatus>, order = answer()): OrderStatus => ({
  orderId: ID,
  chain: order.terms.chain,
  custody: 'vault',
  relayer: { relayer: 'https://relayer.example', order },
  unit: { decimals: 6 },
  ...over,
})

describe('order status', () => {
  it("refuses a relayer's answer for another order, a split that is not the amount, or more slots than ordered", () => {
    expect(answerProblem(answer(), ID)).toBeUndefined()
    expect(answerProblem(answer(), `0x${'02'.repeat(32)}`)).toContain('not the one asked for')
    const s = answer().settlement!
    expect(answerProblem(answer({ settlement: { ...s, fee: 250_001n } }), ID)).toContain(
      "not the order's amount 6000000",
    )
    expect(answerProblem(answer({ settlement: { ...s, upSlots: 7 } }), ID)).toContain('7 up of 6 slots')
    expect(answerProblem(answer({ uptime: 'TTTTTTT' }), ID)).toContain('7 slot statuses for an order of 6')
  })

  it("is final on an escrow only once the escrow says so, whatever the relayer says; on a vault at the relayer's terminal state", () => {
    const escrow = { custody: 'escrow' as const }
    expect(isFinal(status({ ...escrow, onChain: 'open' }))).toBe(false)
    expect(isFinal(status({ ...escrow, onChain: 'settled' }))).toBe(true)
    expect(isFinal(status({ ...escrow, onChain: 'open' }, answer({ state: 'disputed' })))).toBe(true)
    expect(isFinal(status({}))).toBe(true)
    expect(isFinal(status({}, answer({ state: 'payout-pending' })))).toBe(false)
    expect(isFinal(status({ relayer: { relayer: 'https://relayer.example', order: undefined } }))).toBe(false)
  })

  it('counts slots from the per-slot statuses and shows amounts with their decimals', () => {
    const s = status({})
    expect(statusJson(s).slots).toEqual({
      total: 6,
      up: 5,
      counts: { COMPUTE_VERIFIED: 1, TELEMETRY_MATCHED: 4, NO_HEARTBEAT: 1 },
      uptime: 'CTTT.T',
      heartbeats: null,
    })
    expect(statusText(s)).toContain(
      '  split      provider 4750000 (4.75, 6 decimals), renter 1000000 (1, 6 decimals), fee 250000 (0.25, 6 decimals) to cosmos1fee (PARTIAL_DOWNTIME)',
    )
  })
})
