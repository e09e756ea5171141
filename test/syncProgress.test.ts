import { describe, expect, it } from 'vitest'
import type { Logger } from '../src/log.js'
import { syncProgress } from '../src/syncProgress.js'

/** A logger that keeps what it was told. */
function recording() {
  const lines: { fields: Record<string, unknown>; msg: string }[] = []
  const log = { info: (fields: Record<string, unknown>, msg: string) => lines.push({ fields, msg }) }
  return { lines, log: log as unknown as Logger }
}

describe('sync progress', () => {
  it('says how far a long catch-up is, how fast it goes and when it ends, every 30 s, then that it caught up', () => {
    const { lines, log } = recording()
    let t = 0
    const progress = syncProgress(log, { now: () => t })
    progress(1_000n, 100_000n) // starts 100,000 blocks behind: the first line at once
    expect(lines[0]).toMatchObject({
      msg: 'catching up with the chain',
      fields: { percent: 0, lag: 100_000n },
    })
    t = 10_000
    progress(11_000n, 90_000n) // within 30 s: quiet
    expect(lines).toHaveLength(1)
    t = 30_000
    progress(31_000n, 70_000n) // 30,000 blocks in 30 s: 1,000/s, 70 s to go
    expect(lines[1]!.fields).toMatchObject({ percent: 30, perSecond: 1000, etaSeconds: 70, head: 101_000n })
    t = 100_000
    progress(101_000n, 0n)
    expect(lines[2]).toEqual({ msg: 'caught up with the chain', fields: { height: 101_000n, seconds: 100 } })
  })

  it('stays quiet for a watcher that is only a little behind', () => {
    const { lines, log } = recording()
    const progress = syncProgress(log, { now: () => 0 })
    progress(5n, 12n)
    progress(6n, 0n)
    expect(lines).toEqual([])
  })
})
