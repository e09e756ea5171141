/**
 * The matrices of a GPU compute challenge, derived from its 32-byte seed
 * bit-exactly (docs/PROTOCOL.md, "Compute challenge"): entry (i, j) of
 * matrix m (0 for A, 1 for B) of size n is
 *
 *   c = (m·n + i)·n + j                (as uint32; n ≤ MAX_CHALLENGE_N keeps it below 2^32)
 *   h = fmix32(fmix32(c ⊕ s[2m]) ⊕ s[2m+1])
 *   entry = (h mod 9) − 4              (in [−4, 4])
 *
 * where s[0..7] are the seed's eight big-endian 32-bit words and fmix32 is
 * MurmurHash3's finaliser. Any implementation (CUDA, PyTorch, WebGPU, this
 * one) computes the same integers, and with entries in [−4, 4] every entry
 * of C = A·B is at most 16·n in magnitude: exact in fp16/bf16 products with
 * fp32 accumulation for n ≤ 2^20, and exact here in float64.
 */

/** Largest challenge size: (2n)·n stays below 2^32 for the counter, and C·r below 2^53. */
export const MAX_CHALLENGE_N = 16_384

export type Which = 'A' | 'B'

/** MurmurHash3's 32-bit finaliser, on uint32 values. */
export function fmix32(x: number): number {
  let h = x >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b) >>> 0
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35) >>> 0
  h ^= h >>> 16
  return h >>> 0
}

/** The seed's eight big-endian 32-bit words. */
export function seedWords(seed: Uint8Array): Uint32Array {
  if (seed.length !== 32) throw new RangeError(`a challenge seed is 32 bytes, not ${seed.length}`)
  const view = new DataView(seed.buffer, seed.byteOffset, 32)
  return Uint32Array.from({ length: 8 }, (_, k) => view.getUint32(4 * k, false))
}

export function checkSize(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_CHALLENGE_N)
    throw new RangeError(`challenge size ${n} is outside 1…${MAX_CHALLENGE_N}`)
}

/** Entry (i, j) of A or B. */
export function entry(words: Uint32Array, which: Which, n: number, i: number, j: number): number {
  const m = which === 'A' ? 0 : 1
  const c = ((m * n + i) * n + j) >>> 0
  return (fmix32(fmix32(c ^ words[2 * m]!) ^ words[2 * m + 1]!) % 9) - 4
}

/** Row i of A or B into `out` (length n), with the counter advanced in the loop rather than recomputed. */
export function matrixRow(
  words: Uint32Array,
  which: Which,
  n: number,
  i: number,
  out: Float64Array | Int32Array,
): void {
  const m = which === 'A' ? 0 : 1
  const k0 = words[2 * m]!
  const k1 = words[2 * m + 1]!
  let c = ((m * n + i) * n) >>> 0
  for (let j = 0; j < n; j++, c = (c + 1) >>> 0) out[j] = (fmix32(fmix32(c ^ k0) ^ k1) % 9) - 4
}
