import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MAX_CHALLENGE_N, entry, fmix32, matrixKeys, matrixRow } from '../src/gpu/challengeMatrices.js'
import { isChallengedSlot } from '../src/gpu/challengeSchedule.js'
import { answerOnCpu, commitOnCpu } from '../src/gpu/cpuProver.js'
import {
  CHALLENGE_ROWS,
  R_BITS,
  bTimesR,
  reveal,
  verifyAnswer,
  verifyAnswerSteps,
  yielding,
} from '../src/gpu/freivalds.js'
import { rowLeaf, rowPath, rowRoot, rowTree, verifyRowPath } from '../src/gpu/rowCommitment.js'

// The seed 0x00 01 02 … 1f. The expected values below were computed by an independent Python implementation of
// docs/PROTOCOL.md's "Compute challenge" (they are that section's test vectors), not by this code.
const SEED = Uint8Array.from({ length: 32 }, (_, i) => i)
const A4 = [
  [-3, -2, 4, 0],
  [-3, -1, 2, 3],
  [-4, 4, -3, 0],
  [-4, 0, 3, 0],
]
const B4 = [
  [4, 0, 2, 3],
  [3, 3, -3, -1],
  [-2, -4, 3, 2],
  [-2, 2, 4, -1],
]
const C5 = [
  [12, 13, 0, 9, -14],
  [-17, -17, 1, -10, 20],
  [14, 4, -1, 25, -24],
  [-34, -17, -19, -22, 40],
  [12, 12, 15, -25, -11],
]
const C5_ROOT = '0xdc33aa3023400091af20fae9df81d55dde821d51474f09d6323e86b4b90d479f'
// Reveal seed 0x2021…3f at n = 10.
const R10 = [848688, 768722, 418131, 748765, 1009377, 714494, 394459, 945430, 203874, 518850]
const ROWS10 = [3, 0, 9, 2, 6, 5, 8, 1, 4, 7]

const N = 80

describe('compute challenge: matrices and commitment, bit-exact', () => {
  it("uses MurmurHash3's finaliser", () => {
    expect([fmix32(0), fmix32(1), fmix32(0xdeadbeef)]).toEqual([0, 0x514e28b7, 0x0de5c6a9])
  })

  it("derives A and B from the seed as the protocol's test vectors say", () => {
    const keys = matrixKeys(SEED, 4)
    expect(A4.map((row, i) => row.map((_, j) => entry(keys, 'A', 4, i, j)))).toEqual(A4)
    expect(B4.map((row, i) => row.map((_, j) => entry(keys, 'B', 4, i, j)))).toEqual(B4)
    const row = new Int32Array(4)
    matrixRow(keys, 'B', 4, 3, row)
    expect(Array.from(row)).toEqual(B4[3])
  })

  it('keys the matrices by every seed byte and by the size', () => {
    const flipped = Uint8Array.from(SEED)
    flipped[31] = 30
    expect(matrixKeys(flipped, 4)).not.toEqual(matrixKeys(SEED, 4))
    expect(matrixKeys(SEED, 5)).not.toEqual(matrixKeys(SEED, 4))
  })

  it("reveals r and the rows as the protocol's test vectors say, r below 2^20", () => {
    const revealSeed = Uint8Array.from({ length: 32 }, (_, i) => 32 + i)
    const { r, rows } = reveal(revealSeed, 10)
    expect([Array.from(r), rows]).toEqual([R10, ROWS10])
    const wide = reveal(revealSeed, 4_096)
    expect(wide.rows).toHaveLength(CHALLENGE_ROWS)
    expect(new Set(wide.rows).size).toBe(CHALLENGE_ROWS)
    expect(wide.r.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** R_BITS)).toBe(true)
  })

  it("commits to C = A·B row by row, with the protocol's root", () => {
    const committed = commitOnCpu(SEED, 5)
    expect(Array.from({ length: 5 }, (_, i) => Array.from(committed.c.subarray(i * 5, i * 5 + 5)))).toEqual(
      C5,
    )
    expect(committed.root).toBe(C5_ROOT)
  })

  it("proves each row's place in the tree, and nothing else", () => {
    for (const rows of [1, 2, 5, 7, 8, 9]) {
      const leaves = Array.from({ length: rows }, (_, i) => rowLeaf([i, -i, 7]))
      const tree = rowTree(leaves)
      for (let i = 0; i < rows; i++) {
        expect(verifyRowPath(leaves[i]!, i, rows, rowPath(tree, i), rowRoot(tree))).toBe(true)
        expect(verifyRowPath(leaves[i]!, (i + 1) % rows, rows, rowPath(tree, i), rowRoot(tree))).toBe(
          rows === 1,
        )
      }
      expect(verifyRowPath(rowLeaf([0, 0, 8]), 0, rows, rowPath(tree, 0), rowRoot(tree))).toBe(false)
      expect(
        verifyRowPath(leaves[0]!, 0, rows, [...rowPath(tree, 0), `0x${'00'.repeat(32)}`], rowRoot(tree)),
      ).toBe(false)
    }
  })

  it('stays exact at the largest size: every sum the check forms is below 2^53', () => {
    const n = MAX_CHALLENGE_N
    const rMax = 2 ** R_BITS - 1
    // |C_ij| ≤ 16n; |(B·r)_i| ≤ 4·rMax·n; |A(B·r)_i| and |(C·r)_i| ≤ 16·rMax·n²; C's entries fit fp32 exactly (< 2^24).
    expect(16 * n < 2 ** 24).toBe(true)
    expect(16 * rMax * n * n < 2 ** 53).toBe(true)
    expect(2 * n * n <= 2 ** 32).toBe(true)
    expect(() => reveal(SEED, n + 1)).toThrow(RangeError)
  })
})

describe('compute challenge: Freivalds check of an answer', () => {
  const seed = Uint8Array.from({ length: 32 }, (_, i) => 255 - i)
  const committed = commitOnCpu(seed, N)
  const revealSeed = Uint8Array.from({ length: 32 }, (_, i) => (i * 7) & 0xff)
  const honest = answerOnCpu(committed, revealSeed)

  it('accepts the honest answer: each revealed row is committed and agrees with A(B·r)', () => {
    expect(verifyAnswer(seed, N, committed.root, revealSeed, honest)).toEqual({ ok: true })
    expect(honest.rows.map((r) => r.index)).toEqual(reveal(revealSeed, N).rows)
    expect(honest.rows).toHaveLength(Math.min(CHALLENGE_ROWS, N))
  })

  it('catches a provider that committed junk and cannot know which rows or which r come', () => {
    const junkRow = (i: number) => Array.from({ length: N }, (_, j) => ((i * 31 + j) % 9) - 4)
    const tree = rowTree(Array.from({ length: N }, (_, i) => rowLeaf(junkRow(i))))
    const { rows } = reveal(revealSeed, N)
    const cheat = {
      rows: rows.map((index) => ({ index, values: junkRow(index), path: rowPath(tree, index) })),
    }
    expect(verifyAnswer(seed, N, rowRoot(tree), revealSeed, cheat)).toEqual({ ok: false, code: 'WRONG_ROW' })
  })

  it('catches one wrong entry in one committed row, and a committed row answered with the right one', () => {
    const { c } = committed
    const drawn = reveal(revealSeed, N).rows[5]!
    const tampered = Int32Array.from(c)
    tampered[drawn * N + 11]! += 1
    const leaves = Array.from({ length: N }, (_, i) => rowLeaf(tampered.subarray(i * N, (i + 1) * N)))
    const tree = rowTree(leaves)
    const answer = answerOnCpu({ n: N, c: tampered, tree, root: rowRoot(tree) }, revealSeed)
    expect(verifyAnswer(seed, N, rowRoot(tree), revealSeed, answer)).toEqual({ ok: false, code: 'WRONG_ROW' })
    const corrected = { rows: answer.rows.map((row, k) => (k === 5 ? honest.rows[5]! : row)) }
    expect(verifyAnswer(seed, N, rowRoot(tree), revealSeed, corrected)).toEqual({
      ok: false,
      code: 'ROW_NOT_COMMITTED',
    })
  })

  it('refuses a revealed row that is not the committed one', () => {
    const rows = honest.rows.map((row, k) =>
      k === 1 ? { ...row, values: row.values.map((v, j) => (j === 3 ? v + 1 : v)) } : row,
    )
    expect(verifyAnswer(seed, N, committed.root, revealSeed, { rows })).toEqual({
      ok: false,
      code: 'ROW_NOT_COMMITTED',
    })
  })

  it('refuses an answer replayed for another reveal, one that checks no rows, and malformed shapes', () => {
    const other = Uint8Array.from({ length: 32 }, (_, i) => (i * 11 + 3) & 0xff)
    expect(verifyAnswer(seed, N, committed.root, other, honest)).toEqual({ ok: false, code: 'MALFORMED' })
    const shapes: unknown[] = [
      { rows: [] },
      { rows: honest.rows.slice(1) },
      null,
      { rows: 'x' },
      { rows: honest.rows.map((row) => ({ ...row, values: row.values.map(() => 16 * N + 1) })) },
      { rows: honest.rows.map((row) => ({ ...row, values: row.values.map((v) => v + 0.5) })) },
      { rows: honest.rows.map((row) => ({ ...row, values: null })) },
      { rows: honest.rows.map((row) => ({ ...row, path: [[row.path[0]]] })) },
      { rows: honest.rows.map((row) => ({ ...row, path: Array.from({ length: 33 }, () => row.path[0]) })) },
    ]
    for (const answer of shapes)
      expect(verifyAnswer(seed, N, committed.root, revealSeed, answer)).toEqual({
        ok: false,
        code: 'MALFORMED',
      })
  })

  it("refuses a commitment to another seed's product", () => {
    const otherSeed = Uint8Array.from({ length: 32 }, (_, i) => i ^ 0x5a)
    const theirs = commitOnCpu(otherSeed, N)
    expect(verifyAnswer(seed, N, theirs.root, revealSeed, answerOnCpu(theirs, revealSeed))).toEqual({
      ok: false,
      code: 'WRONG_ROW',
    })
  })

  it('computes B·r exactly, as row-by-row integer sums', () => {
    const { r } = reveal(revealSeed, N)
    const keys = matrixKeys(seed, N)
    const row = new Int32Array(N)
    matrixRow(keys, 'B', N, 7, row)
    expect(bTimesR(seed, N, r)[7]).toBe(Array.from(row).reduce((sum, b, j) => sum + b * r[j]!, 0))
  })
})

describe('compute challenge: which slots are challenged', () => {
  const secret = Uint8Array.from({ length: 32 }, (_, i) => i + 1)
  const order = `0x${'ab'.repeat(32)}`

  it('challenges about the configured share of slots, the same ones every time for one secret', () => {
    const drawn = Array.from({ length: 20_000 }, (_, slot) => isChallengedSlot(secret, order, slot, 50_000))
    const count = drawn.filter(Boolean).length
    // 5% of 20,000 is 1,000; a binomial's standard deviation here is about 31.
    expect(count).toBeGreaterThan(900)
    expect(count).toBeLessThan(1_100)
    expect(
      Array.from({ length: 20_000 }, (_, slot) => isChallengedSlot(secret, order, slot, 50_000)),
    ).toEqual(drawn)
  })

  it('draws other slots under another secret, so a provider cannot learn them from a peer', () => {
    const other = randomBytes(32)
    const mine = Array.from({ length: 2_000 }, (_, slot) => isChallengedSlot(secret, order, slot, 100_000))
    const theirs = Array.from({ length: 2_000 }, (_, slot) => isChallengedSlot(other, order, slot, 100_000))
    expect(mine.filter((x, i) => x && theirs[i]).length).toBeLessThan(mine.filter(Boolean).length / 2)
    expect([isChallengedSlot(secret, order, 1, 0), isChallengedSlot(secret, order, 1, 1_000_000)]).toEqual([
      false,
      true,
    ])
    expect(() => isChallengedSlot(secret, order, 1, 1_000_001)).toThrow(RangeError)
    for (const slot of [-1, 1.5, 1e21])
      expect(() => isChallengedSlot(secret, order, slot, 10)).toThrow(RangeError)
  })
})

describe('the check off the event loop', () => {
  it('gives the event loop turns while it runs, and reaches the verdict it reaches in one go', async () => {
    // n = 4,096: B is 16M entries, four steps. The rows are committed zeros, so the O(n²) part runs and finds them wrong.
    const n = 4_096
    const seed = randomBytes(32)
    const revealSeed = randomBytes(32)
    const zeros = new Int32Array(n)
    const tree = rowTree(Array.from({ length: n }, () => rowLeaf(zeros)))
    const answer = {
      rows: reveal(revealSeed, n).rows.map((index) => ({
        index,
        values: Array.from(zeros),
        path: rowPath(tree, index),
      })),
    }
    let turns = 0
    let running = true
    const tick = () => {
      if (!running) return
      turns++
      setImmediate(tick)
    }
    setImmediate(tick)
    const stepped = await yielding(verifyAnswerSteps(seed, n, rowRoot(tree), revealSeed, answer))
    running = false
    expect(stepped).toEqual({ ok: false, code: 'WRONG_ROW' })
    expect(verifyAnswer(seed, n, rowRoot(tree), revealSeed, answer)).toEqual(stepped)
    expect(turns).toBeGreaterThanOrEqual(3)
  })
})
