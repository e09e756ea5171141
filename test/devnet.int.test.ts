import { describe, expect, it } from 'vitest'
import { cliJson, DEVKIT } from './support/cli.js'
import { tempDir } from './support/tmp.js'

interface Row {
  orderId: string
  chain: string
  token: string
  status: string
  upSlots: number
  totalSlots: number
  amount: string
  toProvider: string
  toRenter: string
  fee: string
  reason: string
  txHash: string
  uptime: string
  btcTxid?: string
  btcAmountSats?: string
}

async function devnet(flags: string[]): Promise<Row[]> {
  const tmp = tempDir()
  try {
    return (
      await cliJson<{ orders: Row[] }>(['devnet', '--json', '--dir', tmp.dir, ...flags], {
        cli: DEVKIT,
        timeoutMs: 150_000,
      })
    ).orders
  } finally {
    tmp.cleanup()
  }
}

/** Three orders settled on chain: two in full, the third with the agent's outage unpaid. */
function expectMarketSettled(orders: Row[], count = 3): void {
  expect(orders).toHaveLength(count)
  for (const o of orders.slice(0, 3)) {
    expect(o.chain).toBe('eip155:31337')
    expect(o.txHash).toMatch(/^0x[0-9a-f]{64}$/)
  }
  for (const o of orders) {
    expect(o.status).toBe('settled')
    expect(BigInt(o.toProvider) + BigInt(o.toRenter) + BigInt(o.fee)).toBe(BigInt(o.amount))
  }
  expect(orders.map((o) => o.reason)).toEqual(['FULL', 'FULL', 'PARTIAL_DOWNTIME', 'FULL'].slice(0, count))
  expect(orders[1]!.token).toBe('native')
  expect(orders[2]!.upSlots).toBeLessThan(orders[2]!.totalSlots)
  expect(orders[2]!.upSlots).toBeGreaterThan(0)
  expect(BigInt(orders[2]!.toRenter)).toBeGreaterThan(0n)
  // Every slot carries a compute challenge the CPU reference answers; the third order's provider lost its GPU from
  // the telemetry for slot 1, which is paid nothing (GPU_MISSING), before its agent went down.
  expect(orders[0]!.uptime).toBe('C'.repeat(orders[0]!.totalSlots))
  expect(orders[2]!.uptime[1]).toBe('M')
}

describe('npm run devnet', () => {
  it('runs the market end to end and ends with one JSON line of settled orders', async () => {
    expectMarketSettled(await devnet([]))
  }, 180_000)

  it('runs a quorum with one relayer killed mid-run and one byzantine: the chain pays the honest split', async () => {
    // Four relayers, threshold 2: relayer-1 is killed, relayer-2 inflates; relayers 3 and 4 carry the quorum.
    expectMarketSettled(
      await devnet(['--relayers', '4', '--threshold', '2', '--kill-relayer', '1', '--byzantine', '2']),
    )
  }, 180_000)

  it('pays a provider in BTC: btcd regtest, a solver, and the payout proved to the escrow (--btc)', async () => {
    const orders = await devnet(['--btc'])
    expectMarketSettled(orders, 4)
    const btc = orders[3]!
    expect(btc.btcTxid).toMatch(/^[0-9a-f]{64}$/)
    // The solver's quote: 5,000,000 sats per 10^18 wei of the provider's share, rounded down.
    expect(btc.btcAmountSats).toBe(((BigInt(btc.toProvider) * 5_000_000n) / 10n ** 18n).toString())
    expect(orders.slice(0, 3).every((o) => o.btcTxid === undefined)).toBe(true)
  }, 300_000)

  it('settles Solana vault orders with a 2-of-3 quorum co-signing each release, one paid in BTC with the solver repaid from the vault, and refunds a transfer without a memo (--solana --btc)', async () => {
    const orders = await devnet(['--solana', '--btc', '--relayers', '3', '--threshold', '2'])
    expectMarketSettled(orders.slice(0, 4), 4)
    const [sol, solBtc, stray] = orders.slice(4)
    for (const o of [sol!, solBtc!, stray!]) {
      expect(o.chain).toBe('solana:litesvm')
      expect(o.txHash).toMatch(/^[1-9A-HJ-NP-Za-km-z]{64,88}$/)
    }
    // Splits are read from each release's token balance changes on the chain: 1% fee at full uptime; the refund whole, no fee.
    expect([sol!.toProvider, sol!.toRenter, sol!.fee]).toEqual(['4950000', '0', '50000'])
    // The provider's share left the vault in a second release, to the solver, against its payout of 10^15 sats per 10^18 units.
    expect([solBtc!.status, solBtc!.toProvider, solBtc!.toRenter, solBtc!.fee]).toEqual([
      'settled',
      '4950000',
      '0',
      '50000',
    ])
    expect(solBtc!.btcTxid).toMatch(/^[0-9a-f]{64}$/)
    expect(solBtc!.btcAmountSats).toBe('4950')
    expect(sol!.btcTxid).toBeUndefined()
    expect([stray!.status, stray!.reason, stray!.toProvider, stray!.toRenter, stray!.fee]).toEqual([
      'settled',
      'NO_SHOW',
      '0',
      '2000000',
      '0',
    ])
  }, 240_000)

  it('settles Cosmos vault orders with a 2-of-3 amino multisig release on simd, one paid in BTC with the solver repaid from the vault, and refunds a send without a memo (--cosmos --btc)', async () => {
    const orders = await devnet(['--cosmos', '--btc', '--relayers', '3', '--threshold', '2'])
    expectMarketSettled(orders.slice(0, 4), 4)
    const [vault, vaultBtc, stray] = orders.slice(4)
    for (const o of [vault!, vaultBtc!, stray!]) {
      expect(o.chain).toBe('cosmos:qantara-local')
      expect(o.token).toMatch(/^ibc\/[0-9A-F]{64}$/)
      expect(o.txHash).toMatch(/^[0-9A-F]{64}$/)
    }
    // Splits are read from each release's transfer events on the chain: 1% fee at full uptime; the refund whole, no fee.
    expect([vault!.toProvider, vault!.toRenter, vault!.fee]).toEqual(['5940000', '0', '60000'])
    // The provider's share left the vault in a second release, to the solver, against its payout of 10^15 sats per 10^18 units.
    expect([vaultBtc!.status, vaultBtc!.toProvider, vaultBtc!.fee]).toEqual(['settled', '5940000', '60000'])
    expect(vaultBtc!.btcTxid).toMatch(/^[0-9a-f]{64}$/)
    expect(vaultBtc!.btcAmountSats).toBe('5940')
    expect(vault!.btcTxid).toBeUndefined()
    expect([stray!.status, stray!.reason, stray!.toProvider, stray!.toRenter, stray!.fee]).toEqual([
      'settled',
      'NO_SHOW',
      '0',
      '3000000',
      '0',
    ])
  }, 240_000)
})
