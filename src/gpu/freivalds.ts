import { checkSize, fmix32, matrixRow, seedWords } from './challengeMatrices.js'
import { rowLeaf, verifyRowPath } from './rowCommitment.js'

/** Entries of the random vector r are below 2^20: C·r and A(B·r) then stay below 2^53, exact in float64. */
export const R_BITS = 20
const R_MASK = (1 << R_BITS) - 1

/**
 * What the relayer reveals once the provider committed to C: r and the rows
 * it will check, both derived from a 32-byte reveal seed it draws only then,
 * so neither can be predicted when C is committed. Word 0 and 1 key r, words
 * 2 and 3 the row draw (distinct rows, in the order drawn).
 */
export function reveal(revealSeed: Uint8Array, n: number, rows: number): { r: Float64Array; rows: number[] } {
  checkSize(n)
  const w = seedWords(revealSeed)
  const r = new Float64Array(n)
  for (let j = 0; j < n; j++) r[j] = fmix32(fmix32(j ^ w[0]!) ^ w[1]!) & R_MASK
  const picked: number[] = []
  const wanted = Math.min(rows, n)
  for (let t = 0; picked.length < wanted; t++) {
    const i = fmix32(fmix32(t ^ w[2]!) ^ w[3]!) % n
    if (!picked.includes(i)) picked.push(i)
  }
  return { r, rows: picked }
}

/** A(B·r), regenerating A and B from the seed row by row: O(n²) time, O(n) memory. */
export function expectedProduct(seed: Uint8Array, n: number, r: Float64Array): Float64Array {
  checkSize(n)
  const words = seedWords(seed)
  const row = new Float64Array(n)
  const br = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    matrixRow(words, 'B', n, i, row)
    let sum = 0
    for (let j = 0; j < n; j++) sum += row[j]! * r[j]!
    br[i] = sum
  }
  const abr = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    matrixRow(words, 'A', n, i, row)
    let sum = 0
    for (let j = 0; j < n; j++) sum += row[j]! * br[j]!
    abr[i] = sum
  }
  return abr
}

/** The provider's answer to a reveal: C·r, and the revealed rows of its committed C with their Merkle paths. */
export interface ChallengeAnswer {
  cr: readonly number[]
  rows: readonly { index: number; values: readonly number[]; path: readonly string[] }[]
}

export type ChallengeVerdict =
  { ok: true } | { ok: false; code: 'MALFORMED' | 'WRONG_PRODUCT' | 'ROW_NOT_COMMITTED' | 'ROW_INCONSISTENT' }

/**
 * Checks an answer against the challenge's seed and size, the committed root
 * and the reveal. Freivalds: C·r must equal A(B·r) exactly. Each revealed row
 * must be the committed one (its Merkle path to the root) and agree with C·r
 * (row · r = (C·r)_i). A committed row that is not the row of A·B differs
 * from it by a non-zero vector d, and d·r = 0 for at most one r_j value in
 * 2^20 given the others: so a provider that committed without computing a
 * fraction f of the rows passes k revealed rows with probability about
 * (1 − f)^k, and computing C·r from A(B·r) after the reveal does not help.
 */
export function verifyAnswer(
  seed: Uint8Array,
  n: number,
  root: string,
  revealSeed: Uint8Array,
  rowsAsked: number,
  answer: ChallengeAnswer,
): ChallengeVerdict {
  const { r, rows } = reveal(revealSeed, n, rowsAsked)
  const bound = 16 * n
  if (answer.cr.length !== n || !answer.cr.every(Number.isSafeInteger))
    return { ok: false, code: 'MALFORMED' }
  if (answer.rows.length !== rows.length || answer.rows.some((row, k) => row.index !== rows[k]))
    return { ok: false, code: 'MALFORMED' }
  for (const row of answer.rows) {
    if (row.values.length !== n || !row.values.every((v) => Number.isInteger(v) && Math.abs(v) <= bound))
      return { ok: false, code: 'MALFORMED' }
  }
  const expected = expectedProduct(seed, n, r)
  for (let i = 0; i < n; i++) if (answer.cr[i] !== expected[i]) return { ok: false, code: 'WRONG_PRODUCT' }
  for (const row of answer.rows) {
    if (!verifyRowPath(rowLeaf(row.values), row.index, n, row.path, root))
      return { ok: false, code: 'ROW_NOT_COMMITTED' }
    let sum = 0
    for (let j = 0; j < n; j++) sum += row.values[j]! * r[j]!
    if (sum !== answer.cr[row.index]) return { ok: false, code: 'ROW_INCONSISTENT' }
  }
  return { ok: true }
}
