// What a relayer pays to check a GPU compute challenge (docs/PROTOCOL.md §9) beside what it pays to regenerate A
// and B alone, measured in the same run, at several sizes. Run: npm run build && node dist/bench/gpuChallenge.js
import { performance } from 'node:perf_hooks'
import { matrixKeys, matrixRow } from '../src/gpu/challengeMatrices.js'
import { CHALLENGE_ROWS, bTimesR, reveal } from '../src/gpu/freivalds.js'
import { rowLeaf, rowPath, rowRoot, rowTree, verifyRowPath } from '../src/gpu/rowCommitment.js'
import { DEFAULT_COMPUTE_CHALLENGE_RATE } from '../src/gpu/deadlines.js'

const seed = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff)
const revealSeed = Uint8Array.from({ length: 32 }, (_, i) => (i * 101 + 7) & 0xff)

function regenerate(n: number): number {
  const keys = matrixKeys(seed, n)
  const row = new Float64Array(n)
  let checksum = 0
  for (const which of ['B', 'A'] as const) {
    for (let i = 0; i < n; i++) {
      matrixRow(keys, which, n, i, row)
      checksum += row[i]!
    }
  }
  return checksum
}

/**
 * The whole check as verifyAnswer runs it, without stopping at the first mismatch (the rows here are stand-ins,
 * whose values do not change the cost): the reveal, each row's leaf and path, B·r, and per row A_i·(B·r) and row·r.
 */
function check(n: number, rows: { index: number; values: number[]; path: string[] }[], root: string): number {
  const { r } = reveal(revealSeed, n)
  for (const row of rows)
    if (!verifyRowPath(rowLeaf(row.values), row.index, n, row.path, root))
      throw new Error('the path should verify')
  const br = bTimesR(seed, n, r)
  const keys = matrixKeys(seed, n)
  const aRow = new Float64Array(n)
  let checksum = 0
  for (const row of rows) {
    matrixRow(keys, 'A', n, row.index, aRow)
    for (let j = 0; j < n; j++) checksum += aRow[j]! * br[j]! - row.values[j]! * r[j]!
  }
  return checksum
}

function median(fn: () => number, runs = 3): number {
  fn()
  const samples: number[] = []
  for (let k = 0; k < runs; k++) {
    const t = performance.now()
    fn()
    samples.push(performance.now() - t)
  }
  return samples.sort((a, b) => a - b)[Math.floor(runs / 2)]!
}

console.log(`rows checked per challenge: ${CHALLENGE_ROWS}`)
console.log('n       regenerate A,B   check an answer   ratio')
const checkedAt = new Map<number, number>()
for (const n of [2_048, 4_096, 8_192, 16_384]) {
  const { rows: drawn } = reveal(revealSeed, n)
  const values = (i: number) => Array.from({ length: n }, (_, j) => ((i + j) % 33) - 16)
  const tree = rowTree(
    Array.from({ length: n }, (_, i) => (drawn.includes(i) ? rowLeaf(values(i)) : rowLeaf([i]))),
  )
  const rows = drawn.map((index) => ({ index, values: values(index), path: rowPath(tree, index) }))
  const regen = median(() => regenerate(n))
  const checked = median(() => check(n, rows, rowRoot(tree)))
  checkedAt.set(n, checked)
  console.log(
    `${String(n).padEnd(8)}${`${regen.toFixed(0)} ms`.padEnd(17)}${`${checked.toFixed(0)} ms`.padEnd(18)}${(checked / regen).toFixed(2)}`,
  )
}

// The quorum challenges the same slots. Each relayer checks its own transcript of a checked slot, and a peer's only when
// it is the slot's first pass or first failure; when peers' answers come before its own, up to one per member.
const QUORUM = 3
for (const n of [8_192, 16_384]) {
  const share = (perSlot: number) =>
    (100 * 60 * DEFAULT_COMPUTE_CHALLENGE_RATE * perSlot * checkedAt.get(n)!) / 3_600_000
  console.log(
    `relayer CPU for 100 active one-GPU orders, n = ${n}, rate ${DEFAULT_COMPUTE_CHALLENGE_RATE.toFixed(4)}: ${(100 * share(1)).toFixed(1)}% of one core with one check per checked slot, ${(100 * share(QUORUM)).toFixed(1)}% at most in a quorum of ${QUORUM} (goal ≤ 5%)`,
  )
}
