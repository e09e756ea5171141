import { afterAll, describe, expect, it } from 'vitest'
import { scaleOutSoak } from '../devkit/soak/scaleOutSoak.js'
import { tempDir } from './support/tmp.js'

// The short soak: `npm run soak -- --kills 200` runs the long one (RELIABILITY.md).
const tmp = tempDir()
afterAll(tmp.cleanup)

describe('one relayer identity as several processes on PostgreSQL, under kills', () => {
  it('settles every order exactly once, with the split its stored heartbeats give, while the leader, workers and PostgreSQL are SIGKILLed, the leader is frozen past its lease and its RPCs misbehave', async () => {
    const report = await scaleOutSoak({ dir: tmp.dir, orders: 10, kills: 6, rpcFaults: true })
    expect(report.failures).toEqual([])
    expect(report).toMatchObject({ orders: 10, settled: 10, settleTxs: 10, relayerTxs: 10 })
    expect(report.kills).toEqual({ leader: 2, worker: 2, postgres: 1, frozen: 1 })
    // The frozen leader found itself deposed when it ran again, and exited for its supervisor to restart it.
    expect(report.deposed).toBeGreaterThanOrEqual(1)
    // The relayer met every kind of RPC fault on the way, and each cost nothing.
    for (const fault of ['hang', 'http-5xx', 'garbage', 'truncated', 'lagging-head', 'backwards-head'])
      expect(report.rpcFaults[fault], fault).toBeGreaterThan(0)
    // Measured, not settled empty: the workers' heartbeats paid most slots through the kills.
    expect(report.upSlots).toBeGreaterThan(report.totalSlots / 2)
    console.log(JSON.stringify(report))
  }, 420_000)
})
