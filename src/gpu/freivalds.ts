import { createHash } from 'node:crypto'
import { checkSize, matrixKeys, matrixRow } from './challengeMatrices.js'
import { rowLeaf, verifyRowPath } from './rowCommitment.js'

/** Entries of the random vector r are below 2^20: every sum the check forms stays below 2^53, exact in float64. */
export const R_BITS = 20

/**
 * Rows of C revealed and checked per challenge. A provider that committed
 * without computing a fraction f of the rows passes with probability about
 * (1 − f)^ROWS + ROWS·2^−20: below 1% for f = 7%, and 0.1% for f = 10%.
 */
export const CHALLENGE_ROWS = 64

function sha256(...parts: (string | Uint8Array)[]): Buffer {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}

function uint32be(x: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(x)
  return b
}

/**
 * What the relayer reveals once the provider committed to C: the vector r and
 * the rows it checks, both from a 32-byte reveal seed it draws only then, so
 * neither can be predicted when C is committed. Block t of r is
 * SHA-256("qantara/gpu-reveal/r/v1\n" ‖ revealSeed ‖ uint32be(t)), read as
 * eight big-endian words, each masked to 20 bits (r[8t…8t+7]); draw t of the
 * rows is the first big-endian word of SHA-256("qantara/gpu-reveal/rows/v1\n"
 * ‖ revealSeed ‖ uint32be(t)) mod n, a row drawn already skipped, until
 * min(CHALLENGE_ROWS, n) rows.
 */
export function reveal(revealSeed: Uint8Array, n: number): { r: Float64Array; rows: number[] } {
  checkSize(n)
  if (revealSeed.length !== 32) throw new RangeError(`a reveal seed is 32 bytes, not ${revealSeed.length}`)
  const r = new Float64Array(n)
  for (let t = 0; 8 * t < n; t++) {
    const block = sha256('qantara/gpu-reveal/r/v1\n', revealSeed, uint32be(t))
    for (let k = 0; k < 8 && 8 * t + k < n; k++)
      r[8 * t + k] = block.readUInt32BE(4 * k) & ((1 << R_BITS) - 1)
  }
  const rows: number[] = []
  const wanted = Math.min(CHALLENGE_ROWS, n)
  for (let t = 0; rows.length < wanted; t++) {
    const i = sha256('qantara/gpu-reveal/rows/v1\n', revealSeed, uint32be(t)).readUInt32BE(0) % n
    if (!rows.includes(i)) rows.push(i)
  }
  return { r, rows }
}

/** Entries of B regenerated between two pauses of a yielding check: about 10 ms of one core. */
const ENTRIES_PER_STEP = 1 << 22

/** B·r, regenerating B from the seed row by row: O(n²) time, O(n) memory. */
export function bTimesR(seed: Uint8Array, n: number, r: Float64Array): Float64Array {
  return runToEnd(bTimesRSteps(seed, n, r))
}

/** B·r in steps: it yields every ENTRIES_PER_STEP entries, so a caller can let other work run between them. */
function* bTimesRSteps(seed: Uint8Array, n: number, r: Float64Array): Generator<void, Float64Array> {
  const keys = matrixKeys(seed, n)
  const row = new Float64Array(n)
  const br = new Float64Array(n)
  const rowsPerStep = Math.max(1, Math.floor(ENTRIES_PER_STEP / n))
  for (let i = 0; i < n; i++) {
    if (i > 0 && i % rowsPerStep === 0) yield
    matrixRow(keys, 'B', n, i, row)
    let sum = 0
    for (let j = 0; j < n; j++) sum += row[j]! * r[j]!
    br[i] = sum
  }
  return br
}

function runToEnd<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next()
    if (step.done) return step.value
  }
}

/**
 * Runs a check in steps, giving the event loop a turn between them: a check
 * at n = 16,384 is about a second of one core, which must not stall a
 * relayer's probes (whose deadlines it times) or its gossip.
 */
export async function yielding<T>(steps: Generator<void, T>): Promise<T> {
  for (;;) {
    const step = steps.next()
    if (step.done) return step.value
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
}

/** The provider's answer to a reveal: the revealed rows of its committed C, in the order drawn, with their Merkle paths. */
export interface ChallengeAnswer {
  rows: readonly { index: number; values: readonly number[]; path: readonly string[] }[]
}

export type ChallengeVerdict =
  { ok: true } | { ok: false; code: 'MALFORMED' | 'ROW_NOT_COMMITTED' | 'WRONG_ROW' }

/**
 * Checks an answer against the challenge's seed and size, the committed root
 * and the reveal: each revealed row must be the committed one (its Merkle
 * path to the root), and row · r must equal A_i·(B·r) exactly (Freivalds,
 * row by row). A committed row that is not row i of A·B differs from it by a
 * non-zero vector d, and d·r = 0 for at most one of the 2^20 values of one
 * r_j given the others, so computing anything from A(B·r) after the reveal
 * does not help: the rows had to be right when they were committed. The
 * cheap checks (shapes, paths) run before the O(n²) product.
 */
export function verifyAnswer(
  seed: Uint8Array,
  n: number,
  root: string,
  revealSeed: Uint8Array,
  answer: unknown,
): ChallengeVerdict {
  return runToEnd(verifyAnswerSteps(seed, n, root, revealSeed, answer))
}

/** `verifyAnswer` in steps, for `yielding`. */
export function* verifyAnswerSteps(
  seed: Uint8Array,
  n: number,
  root: string,
  revealSeed: Uint8Array,
  answer: unknown,
): Generator<void, ChallengeVerdict> {
  const { r, rows } = reveal(revealSeed, n)
  const revealed = wellFormedRows(answer, rows, n)
  if (!revealed) return { ok: false, code: 'MALFORMED' }
  for (const row of revealed)
    if (!verifyRowPath(rowLeaf(row.values), row.index, n, row.path, root))
      return { ok: false, code: 'ROW_NOT_COMMITTED' }
  const br = yield* bTimesRSteps(seed, n, r)
  const keys = matrixKeys(seed, n)
  const aRow = new Float64Array(n)
  for (const row of revealed) {
    matrixRow(keys, 'A', n, row.index, aRow)
    let expected = 0
    let claimed = 0
    for (let j = 0; j < n; j++) {
      expected += aRow[j]! * br[j]!
      claimed += row.values[j]! * r[j]!
    }
    if (claimed !== expected) return { ok: false, code: 'WRONG_ROW' }
  }
  return { ok: true }
}

/** The answer's rows if it has exactly the drawn rows, in order, each n integers within C's bound and a path of hashes. */
function wellFormedRows(answer: unknown, drawn: number[], n: number): ChallengeAnswer['rows'] | undefined {
  const rows = (answer as { rows?: unknown } | null)?.rows
  if (!Array.isArray(rows) || rows.length !== drawn.length) return undefined
  const bound = 16 * n
  for (const [k, row] of (rows as unknown[]).entries()) {
    const { index, values, path } = (row ?? {}) as { index?: unknown; values?: unknown; path?: unknown }
    if (
      index !== drawn[k] ||
      !Array.isArray(values) ||
      values.length !== n ||
      !Array.isArray(path) ||
      path.length > 32
    )
      return undefined
    if (!values.every((v) => typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= bound))
      return undefined
    if (!path.every((h) => typeof h === 'string' && /^0x[0-9a-f]{64}$/.test(h))) return undefined
  }
  return rows as ChallengeAnswer['rows']
}
