import { describe, expect, it } from 'vitest'
import { QantaraError } from '../src/errors.js'
import { GroupCommit } from '../src/store/groupCommit.js'

/** A write that records its batches, doubles each item, refuses negative ones, and is slow until released. */
function recorder() {
  const batches: number[][] = []
  let release: () => void = () => undefined
  let gate = Promise.resolve()
  const write = async (items: readonly number[]) => {
    batches.push([...items])
    await gate
    if (items.some((i) => i < 0)) throw new Error(`refused ${items.join(',')}`)
    return items.map((i) => i * 2)
  }
  const hold = () => {
    gate = new Promise((r) => (release = r))
  }
  return { batches, write, hold, release: () => release() }
}

describe('GroupCommit', () => {
  it('writes what is asked in one turn as one batch, and each caller gets its own result', async () => {
    const r = recorder()
    const commit = new GroupCommit(r.write)
    expect(await Promise.all([1, 2, 3].map((i) => commit.submit(i)))).toEqual([2, 4, 6])
    expect(r.batches).toEqual([[1, 2, 3]])
  })

  it('gathers what is asked while a write is in flight into the next write', async () => {
    const r = recorder()
    const commit = new GroupCommit(r.write)
    r.hold()
    const first = commit.submit(1)
    await new Promise((ok) => setImmediate(ok))
    const later = [2, 3, 4].map((i) => commit.submit(i))
    r.release()
    expect(await Promise.all([first, ...later])).toEqual([2, 4, 6, 8])
    expect(r.batches).toEqual([[1], [2, 3, 4]])
  })

  it('splits a long queue into batches of at most maxBatch', async () => {
    const r = recorder()
    const commit = new GroupCommit(r.write, 2)
    await Promise.all([1, 2, 3, 4, 5].map((i) => commit.submit(i)))
    expect(r.batches).toEqual([[1, 2], [3, 4], [5]])
  })

  it('fails the whole batch at once while the store is unreachable, without trying each item again', async () => {
    const batches: number[][] = []
    const commit = new GroupCommit((items: readonly number[]): Promise<number[]> => {
      batches.push([...items])
      return Promise.reject(new QantaraError('STORE_FAILED', 'connection refused', { retryable: true }))
    })
    const results = await Promise.allSettled([1, 2, 3].map((i) => commit.submit(i)))
    expect(results.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected'])
    expect(batches).toEqual([[1, 2, 3]])
  })

  it('fails only the item the store refuses, writing the rest of its batch one by one', async () => {
    const r = recorder()
    const commit = new GroupCommit(r.write)
    const results = await Promise.allSettled([1, -1, 3].map((i) => commit.submit(i)))
    expect(results.map((s) => (s.status === 'fulfilled' ? s.value : String(s.reason)))).toEqual([
      2,
      'Error: refused -1',
      6,
    ])
    expect(r.batches).toEqual([[1, -1, 3], [1], [-1], [3]])
    // And it keeps writing afterwards.
    expect(await commit.submit(5)).toBe(10)
  })
})
