import { checkSize, matrixKeys, matrixRow } from './challengeMatrices.js'
import { reveal, type ChallengeAnswer } from './freivalds.js'
import { rowLeaf, rowPath, rowRoot, rowTree } from './rowCommitment.js'

/** A provider's side of a challenge after it committed: C, and the tree its root came from. */
export interface Committed {
  n: number
  c: Int32Array
  tree: Buffer[][]
  root: string
}

/**
 * The CPU reference prover: C = A·B in plain integer arithmetic, for tests
 * and for checking a GPU implementation's bytes. It is O(n³): at the test
 * sizes it is instant, at a production size it is exactly what a machine
 * without the GPU cannot do in time.
 */
export function commitOnCpu(seed: Uint8Array, n: number): Committed {
  checkSize(n)
  const words = matrixKeys(seed, n)
  const b = new Int32Array(n * n)
  const row = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    matrixRow(words, 'B', n, i, row)
    b.set(row, i * n)
  }
  const c = new Int32Array(n * n)
  for (let i = 0; i < n; i++) {
    matrixRow(words, 'A', n, i, row)
    const out = c.subarray(i * n, (i + 1) * n)
    for (let k = 0; k < n; k++) {
      const a = row[k]!
      if (a === 0) continue
      const bk = b.subarray(k * n, (k + 1) * n)
      for (let j = 0; j < n; j++) out[j]! += a * bk[j]!
    }
  }
  const tree = rowTree(Array.from({ length: n }, (_, i) => rowLeaf(c.subarray(i * n, (i + 1) * n))))
  return { n, c, tree, root: rowRoot(tree) }
}

/** The answer to a reveal from a committed C: the drawn rows with their paths. */
export function answerOnCpu(committed: Committed, revealSeed: Uint8Array): ChallengeAnswer {
  const { n, c, tree } = committed
  const { rows } = reveal(revealSeed, n)
  return {
    rows: rows.map((index) => ({
      index,
      values: Array.from(c.subarray(index * n, (index + 1) * n)),
      path: rowPath(tree, index),
    })),
  }
}
