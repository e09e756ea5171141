import { execFile } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { tempDir } from './support/tmp.js'

interface Row { orderId: string; chain: string; token: string; status: string; upSlots: number; totalSlots: number; amount: string; toProvider: string; toRenter: string; fee: string; reason: string; txHash: string }

describe('npm run devnet', () => {
  it('runs the market end to end and ends with one JSON line of settled orders', async () => {
    const tmp = tempDir()
    const stdout = await new Promise<string>((ok, fail) => {
      execFile(process.execPath, ['dist/src/cli/main.js', 'devnet', '--json', '--dir', tmp.dir], { timeout: 150_000, maxBuffer: 16 * 1024 * 1024 }, (err, out, errOut) => (err ? fail(new Error(`${err.message}\n${errOut.slice(-3000)}`)) : ok(out)))
    })
    tmp.cleanup()
    const last = stdout.trim().split('\n').at(-1)!
    const { orders } = JSON.parse(last) as { orders: Row[] }
    expect(orders).toHaveLength(3)
    for (const o of orders) {
      expect(o.chain).toBe('eip155:31337')
      expect(o.status).toBe('settled')
      expect(o.txHash).toMatch(/^0x[0-9a-f]{64}$/)
      expect(BigInt(o.toProvider) + BigInt(o.toRenter) + BigInt(o.fee)).toBe(BigInt(o.amount))
    }
    expect(orders.map((o) => o.reason)).toEqual(['FULL', 'FULL', 'PARTIAL_DOWNTIME'])
    expect(orders[1]!.token).toBe('native')
    expect(orders[2]!.upSlots).toBeLessThan(orders[2]!.totalSlots)
    expect(orders[2]!.upSlots).toBeGreaterThan(0)
  }, 180_000)
})
