import { describe, expect, it } from 'vitest'
import { isFinal, statusJson, statusText, type OrderStatus } from '../src/app/cli/orderStatusView.js'
import { answerProblem, type RelayerOrderAnswer } from '../src/app/cli/relayerOrder.js'
import { termsMatchEscrow } from '../src/app/cli/escrowChain.js'
import { openStateHash, owedStateHash } from '../adapters/evm/codec.js'
import type { OrderTerms } from '../src/order.js'

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

describe("an escrow order's terms from a relayer, checked against the escrow's stored hash", () => {
  const terms: OrderTerms = {
    id: ID as `0x${string}`,
    chain: 'eip155:31337',
    renter: '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
    token: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512',
    amount: 12_500_000n,
    providerId: `0x${'ab'.repeat(32)}`,
    payout: '0x90F79bf6EB2c4f870365E785982E1f101E93b906',
    start: 1_800_000_000n,
    slotLength: 60,
    slots: 6,
    gpu: { class: 'cpu-reference', count: 1, minVramMiB: 0 },
  }
  it('takes terms that hash to the word the escrow holds, and no others', () => {
    const word = openStateHash(terms)
    expect(termsMatchEscrow(word, terms, undefined)).toBe(true)
    expect(termsMatchEscrow(word, { ...terms, amount: terms.amount * 1_000n }, undefined)).toBe(false)
    expect(termsMatchEscrow(word, { ...terms, payout: terms.renter }, undefined)).toBe(false)
  })
  it("takes a BTC order's terms against the escrow's owed-in-BTC word, with the chain's provider share", () => {
    const btc = {
      script: `0014${'11'.repeat(20)}`,
      solver: '0x14dC79964da2C08b23698B3D3cc7Ca32193d9955',
      satsPerE18: 10n ** 6n,
      payoutDeadline: 1_800_100_000n,
      maxAmount: 20_000_000n,
      openBy: 1_799_999_000n,
      latestEnd: 1_800_050_000n,
    }
    const word = owedStateHash({ ...terms, btc }, 12_375_000n)
    expect(termsMatchEscrow(word, { ...terms, btc }, { toProvider: 12_375_000n })).toBe(true)
    expect(termsMatchEscrow(word, { ...terms, btc }, { toProvider: 12_375_001n })).toBe(false)
  })
})

describe("a relayer's settlement checked against its own slot statuses", () => {
  it('refuses a settlement whose up slots or reason its statuses contradict, or one for an order still running', () => {
    const ok = answer()
    expect(answerProblem(ok, ID)).toBeUndefined()
    const s = ok.settlement!
    const inflated = {
      ...ok,
      uptime: '......',
      settlement: { ...s, upSlots: 6, toProvider: s.toProvider + s.toRenter, toRenter: 0n },
      reason: 'FULL' as const,
    }
    expect(answerProblem(inflated, ID)).toMatch(/6 up slots beside statuses of 0/)
    expect(answerProblem({ ...ok, state: 'active' }, ID)).toMatch(/still active/)
    expect(
      answerProblem({ ...ok, reason: 'FULL', uptime: undefined, settlement: { ...s, upSlots: 3 } }, ID),
    ).toMatch(/as FULL/)
  })
})

describe("an order's GPU telemetry, from the relayer's per-slot page", () => {
  const gpu = (util: number, temp: number, name = 'NVIDIA H100 80GB HBM3') => ({
    index: 0,
    name,
    utilizationPct: util,
    memoryUsedMiB: 70_000,
    memoryTotalMiB: 81_559,
    temperatureC: temp,
    powerDrawMilliwatts: 650_000,
  })
  const item = (slot: number, gpus: ReturnType<typeof gpu>[] | null) => ({
    slot,
    proof: gpus ? 'compute-verified' : 'down',
    reason: gpus ? 'COMPUTE_VERIFIED' : 'NO_HEARTBEAT',
    heartbeats: gpus ? 2 : 0,
    gpus,
  })
  it('summarises each GPU over the page for people, and gives every slot in --json', () => {
    const order = answer({
      slots: { from: 0, count: 3, items: [item(0, [gpu(90, 70)]), item(1, [gpu(100, 74)]), item(2, null)] },
    })
    const text = statusText(status({}, order)).join('\n')
    expect(text).toContain(
      'GPU 0 NVIDIA H100 80GB HBM3: utilisation avg 95%, memory max 70000 MiB, temperature max 74 °C, power avg 650 W (2 slots), slots 0-2',
    )
    const json = statusJson(status({}, order))
    expect(json.telemetry?.gpus).toEqual([
      {
        index: 0,
        name: 'NVIDIA H100 80GB HBM3',
        slots: 2,
        utilizationPctAvg: 95,
        memoryUsedMiBMax: 70_000,
        temperatureCMax: 74,
        powerWattsAvg: 650,
      },
    ])
    expect(json.slotDetail).toHaveLength(3)
  })
  it("shows a provider's GPU name with control characters made printable, never sent to the terminal", () => {
    const order = answer({
      slots: { from: 0, count: 1, items: [item(0, [gpu(50, 60, 'H100\u001b[2J\u0007')])] },
    })
    const shown = statusText(status({}, order)).join('\n')
    expect(
      [...shown].filter((c) => c !== '\n' && (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)),
    ).toEqual([])
  })
})
