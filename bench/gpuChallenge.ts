// What a relayer pays to check a GPU compute challenge (docs/PROTOCOL.md, "Compute challenge") beside what it
// pays to regenerate A and B alone, measured in the same run, at several sizes.
// Run: npm run build && node dist/bench/gpuChallenge.js
import { performance } from 'node:perf_hooks'
import { matrixRow, seedWords } from '../src/gpu/challengeMatrices.js'
import { expectedProduct, reveal } from '../src/gpu/freivalds.js'
import { rowLeaf, rowPath, rowRoot, rowTree, verifyRowPath } from '../src/gpu/rowCommitment.js'

const ROWS = 4
const seed = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff)
const revealSeed = Uint8Array.from({ length: 32 }, (_, i) => (i * 101 + 7) & 0xff)

function regenerate(n: number): number {
  const words = seedWords(seed)
  const row = new Float64Array(n)
  let checksum = 0
  for (const which of ['B', 'A'] as const) {
    for (let i = 0; i < n; i++) {
      matrixRow(words, which, n, i, row)
      checksum += row[i % n]!
    }
  }
  return checksum
}

/** The whole check: A(B·r), then per revealed row its leaf, its path and its dot product with r. */
function verify(
  n: number,
  rows: { index: number; values: number[]; path: string[] }[],
  root: string,
): number {
  const { r } = reveal(revealSeed, n, ROWS)
  const product = expectedProduct(seed, n, r)
  let checksum = product[0]!
  for (const row of rows) {
    if (!verifyRowPath(rowLeaf(row.values), row.index, n, row.path, root))
      throw new Error('path should verify')
    let sum = 0
    for (let j = 0; j < n; j++) sum += row.values[j]! * r[j]!
    checksum += sum
  }
  return checksum
}

function time(fn: () => number, runs = 3): number {
  fn()
  const samples: number[] = []
  for (let k = 0; k < runs; k++) {
    const t = performance.now()
    fn()
    samples.push(performance.now() - t)
  }
  return samples.sort((a, b) => a - b)[Math.floor(runs / 2)]!
}

console.log('n       regenerate A,B   verify answer   ratio')
for (const n of [2_048, 4_096, 8_192, 16_384]) {
  // The revealed rows' values do not change the cost; their paths are real ones in a tree of n rows.
  const { rows: picked } = reveal(revealSeed, n, ROWS)
  const leafValues = (i: number) => Array.from({ length: n }, (_, j) => ((i + j) % 33) - 16)
  const leaves = Array.from({ length: n }, (_, i) =>
    picked.includes(i) ? rowLeaf(leafValues(i)) : rowLeaf([i]),
  )
  const tree = rowTree(leaves)
  const rows = picked.map((index) => ({ index, values: leafValues(index), path: rowPath(tree, index) }))
  const regen = time(() => regenerate(n))
  const check = time(() => verify(n, rows, rowRoot(tree)))
  console.log(
    `${String(n).padEnd(8)}${`${regen.toFixed(0)} ms`.padEnd(17)}${`${check.toFixed(0)} ms`.padEnd(16)}${(check / regen).toFixed(2)}`,
  )
}
