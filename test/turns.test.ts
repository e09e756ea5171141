import { describe, expect, it } from 'vitest'
import { TaskRunner } from '../src/relay/tasks.js'
import { backoffMs, isMyTurn, submitterRank, turnAt } from '../src/relay/turns.js'

const members = ['relayer-1', 'relayer-2', 'relayer-3']
const ORDER = `0x${'11'.repeat(32)}`

describe('turn policy', () => {
  it('gives every member a different place in line, and every relayer computes the same line', () => {
    const ranks = members.map((m) => submitterRank(ORDER, members, m))
    expect([...ranks].sort()).toEqual([0, 1, 2])
    expect(members.map((m) => submitterRank(ORDER, [...members].reverse(), m))).toEqual(ranks)
  })

  it('orders the line differently for different tasks, so one member is not always first', () => {
    const firsts = new Set(
      Array.from({ length: 30 }, (_, i) => members.find((m) => submitterRank(`task-${i}`, members, m) === 0)),
    )
    expect(firsts.size).toBe(3)
  })

  it('lets the member ranked k act failoverSeconds × k after the task became possible', () => {
    for (const relayerId of members) {
      const policy = { relayerId, members, failoverSeconds: 10 }
      const rank = submitterRank(ORDER, members, relayerId)
      expect(turnAt(policy, ORDER, 5_000)).toBe(5_000 + rank * 10_000)
      expect(isMyTurn(policy, ORDER, 5_000, 5_000 + rank * 10_000 - 1)).toBe(false)
      expect(isMyTurn(policy, ORDER, 5_000, 5_000 + rank * 10_000)).toBe(true)
    }
  })

  it('puts a relayer that is not a member first rather than never', () => {
    expect(turnAt({ relayerId: 'stranger', members, failoverSeconds: 10 }, ORDER, 0)).toBe(0)
  })

  it('backs off 1 s, doubling, to at most a minute', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map(backoffMs)).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000,
    ])
  })
})

describe('task runner', () => {
  it('keeps a running task guarded when its order is forgotten, and drops it when it ends', async () => {
    const tasks = new TaskRunner(() => 0)
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const key = { kind: 'btc-payout', order: 'a' } as const
    expect(tasks.start(key, () => gate)).toBe(true)
    tasks.forget('a')
    expect(tasks.start(key, () => Promise.resolve())).toBe(false)
    release()
    await tasks.drain()
    expect(tasks.start(key, () => Promise.resolve())).toBe(true)
  })

  it('never runs a task twice at once, and drain waits for what runs', async () => {
    let now = 0
    const tasks = new TaskRunner(() => now)
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let runs = 0
    const work = async () => {
      runs++
      await gate
    }
    expect(tasks.start({ kind: 'settle', order: 'a' }, work)).toBe(true)
    expect(tasks.start({ kind: 'settle', order: 'a' }, work)).toBe(false)
    expect(tasks.start({ kind: 'settle', order: 'b' }, work)).toBe(true)
    let drained = false
    const draining = tasks.drain().then(() => (drained = true))
    await Promise.resolve()
    expect(drained).toBe(false)
    release()
    await draining
    expect(runs).toBe(2)
    now = 1
    expect(tasks.start({ kind: 'settle', order: 'a' }, work)).toBe(true)
  })

  it('runs interval work at most once per interval', async () => {
    let now = 0
    const tasks = new TaskRunner(() => now)
    const key = { kind: 'pull-heartbeats', order: 'a' } as const
    expect(tasks.start(key, () => Promise.resolve(), 1_000)).toBe(true)
    await tasks.drain()
    now = 999
    expect(tasks.ready(key, 1_000)).toBe(false)
    now = 1_000
    expect(tasks.ready(key, 1_000)).toBe(true)
  })

  it('backs a failing task off, and an inline one rethrows', async () => {
    let now = 0
    const tasks = new TaskRunner(() => now)
    const key = { kind: 'advance', order: 'a' } as const
    await expect(tasks.runInline(key, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(tasks.ready(key)).toBe(false)
    now = 999
    expect(tasks.ready(key)).toBe(false)
    now = 1_000
    expect(tasks.ready(key)).toBe(true)
    tasks.failed(key)
    now = 2_999
    expect(tasks.ready(key)).toBe(false)
    now = 3_000
    expect(tasks.ready(key)).toBe(true)
  })

  it('forgets every key of an order at once, its backoff and the moment it became possible included', () => {
    let now = 0
    const tasks = new TaskRunner(() => now)
    tasks.failed({ kind: 'settle', order: 'a' })
    tasks.pause({ kind: 'btc-payout', order: 'a' }, 3_600_000)
    tasks.failed({ kind: 'settle', order: 'b' })
    expect(tasks.possibleSince({ kind: 'settle', order: 'a' })).toBe(0)
    now = 50
    tasks.forget('a')
    expect(tasks.ready({ kind: 'settle', order: 'a' })).toBe(true)
    expect(tasks.ready({ kind: 'btc-payout', order: 'a' })).toBe(true)
    expect(tasks.ready({ kind: 'settle', order: 'b' })).toBe(false)
    expect(tasks.possibleSince({ kind: 'settle', order: 'a' })).toBe(50)
  })
})
