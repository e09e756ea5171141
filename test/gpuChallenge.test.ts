import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MAX_CHALLENGE_N, entry, fmix32, seedWords } from '../src/gpu/challengeMatrices.js'
import { isChallengedSlot } from '../src/gpu/challengeSchedule.js'
import { answerOnCpu, commitOnCpu } from '../src/gpu/cpuProver.js'
import { R_BITS, expectedProduct, reveal, verifyAnswer, type ChallengeAnswer } from '../src/gpu/freivalds.js'
import { rowLeaf, rowPath, rowRoot, rowTree, verifyRowPath } from '../src/gpu/rowCommitment.js'

// The seed 0x00 01 02 … 1f. The expected values below were computed by an independent Python implementation of
// docs/PROTOCOL.md's "Compute challenge" (they are that section's test vectors), not by this code.
const SEED = Uint8Array.from({ length: 32 }, (_, i) => i)
const A4 = [
  [2, 1, 2, 1],
  [-3, -2, 0, 0],
  [3, 1, 4, 0],
  [1, -1, 2, 0],
]
const B4 = [
  [1, -3, -1, -3],
  [2, 2, 4, 1],
  [1, 4, -1, -2],
  [3, -2, -1, -3],
]
const C5 = [
  [4, -14, 1, 5, -11],
  [-17, -9, 13, -12, -3],
  [19, 1, -9, 25, -12],
  [-5, -1, 0, -25, 12],
  [-25, -22, 3, -23, 11],
]
const C5_ROOT = '0x297dc9aaf2378ee1e070726ad579f0a48e94096c84c536ff5de9816ce3d67ac7'

const N = 48
const ROWS = 4

describe('compute challenge: matrices and commitment, bit-exact', () => {
  it("uses MurmurHash3's finaliser", () => {
    expect([fmix32(0), fmix32(1), fmix32(0xdeadbeef)]).toEqual([0, 0x514e28b7, 0x0de5c6a9])
  })

  it("derives A and B from the seed as the protocol's test vectors say", () => {
    const w = seedWords(SEED)
    expect(A4.map((row, i) => row.map((_, j) => entry(w, 'A', 4, i, j)))).toEqual(A4)
    expect(B4.map((row, i) => row.map((_, j) => entry(w, 'B', 4, i, j)))).toEqual(B4)
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
    expect(() => reveal(SEED, n + 1, 1)).toThrow(RangeError)
  })
})

describe('compute challenge: Freivalds check of an answer', () => {
  const seed = Uint8Array.from({ length: 32 }, (_, i) => 255 - i)
  const committed = commitOnCpu(seed, N)
  const revealSeed = Uint8Array.from({ length: 32 }, (_, i) => (i * 7) & 0xff)
  const honest = answerOnCpu(committed, revealSeed, ROWS)

  it('accepts the honest answer, whose C·r is A(B·r)', () => {
    expect(verifyAnswer(seed, N, committed.root, revealSeed, ROWS, honest)).toEqual({ ok: true })
    expect(honest.cr).toEqual(Array.from(expectedProduct(seed, N, reveal(revealSeed, N, ROWS).r)))
    expect(new Set(honest.rows.map((r) => r.index)).size).toBe(ROWS)
  })

  it('refuses a C·r off by one in a single entry', () => {
    const cr = [...honest.cr]
    cr[17]! += 1
    expect(verifyAnswer(seed, N, committed.root, revealSeed, ROWS, { ...honest, cr })).toEqual({
      ok: false,
      code: 'WRONG_PRODUCT',
    })
  })

  it('catches a provider that committed junk and computed C·r as A(B·r) after the reveal', () => {
    const junk = Array.from({ length: N }, (_, i) =>
      rowLeaf(Array.from({ length: N }, (_, j) => (i * j) % 5)),
    )
    const tree = rowTree(junk)
    const { r, rows } = reveal(revealSeed, N, ROWS)
    const cheat: ChallengeAnswer = {
      cr: Array.from(expectedProduct(seed, N, r)),
      rows: rows.map((index) => ({
        index,
        values: Array.from({ length: N }, (_, j) => (index * j) % 5),
        path: rowPath(tree, index),
      })),
    }
    expect(verifyAnswer(seed, N, rowRoot(tree), revealSeed, ROWS, cheat)).toEqual({
      ok: false,
      code: 'ROW_INCONSISTENT',
    })
  })

  it('refuses a revealed row that is not the committed one', () => {
    const rows = honest.rows.map((row, k) =>
      k === 1 ? { ...row, values: row.values.map((v, j) => (j === 3 ? v + 1 : v)) } : row,
    )
    expect(verifyAnswer(seed, N, committed.root, revealSeed, ROWS, { ...honest, rows })).toEqual({
      ok: false,
      code: 'ROW_NOT_COMMITTED',
    })
  })

  it('refuses an answer replayed for another reveal, or shaped wrong', () => {
    const other = Uint8Array.from({ length: 32 }, (_, i) => (i * 11 + 3) & 0xff)
    expect(verifyAnswer(seed, N, committed.root, other, ROWS, honest).ok).toBe(false)
    expect(
      verifyAnswer(seed, N, committed.root, revealSeed, ROWS, { ...honest, cr: honest.cr.slice(1) }),
    ).toEqual({ ok: false, code: 'MALFORMED' })
    expect(
      verifyAnswer(seed, N, committed.root, revealSeed, ROWS, { ...honest, rows: honest.rows.slice(1) }),
    ).toEqual({ ok: false, code: 'MALFORMED' })
    const huge = honest.rows.map((row) => ({ ...row, values: row.values.map(() => 16 * N + 1) }))
    expect(verifyAnswer(seed, N, committed.root, revealSeed, ROWS, { ...honest, rows: huge })).toEqual({
      ok: false,
      code: 'MALFORMED',
    })
  })

  it("refuses a commitment to another seed's product", () => {
    const otherSeed = Uint8Array.from({ length: 32 }, (_, i) => i ^ 0x5a)
    const theirs = commitOnCpu(otherSeed, N)
    expect(
      verifyAnswer(seed, N, theirs.root, revealSeed, ROWS, answerOnCpu(theirs, revealSeed, ROWS)),
    ).toEqual({ ok: false, code: 'WRONG_PRODUCT' })
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
  })
})
