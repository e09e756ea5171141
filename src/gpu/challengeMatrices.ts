import { createHash } from 'node:crypto'

/**
 * The matrices of a GPU compute challenge, derived from its 32-byte seed and
 * its size n bit-exactly (docs/PROTOCOL.md §9). With k[0..7] the big-endian
 * 32-bit words of SHA-256("qantara/gpu-challenge/v1\n" ‖ seed ‖ uint32be(n)),
 * entry (i, j) of matrix m (0 for A, 1 for B) is, in uint32 arithmetic with
 * logical shifts,
 *
 *   c = (m·n + i)·n + j                (below 2^29 for n ≤ MAX_CHALLENGE_N)
 *   h = fmix32(fmix32(c ⊕ k[2m]) ⊕ k[2m+1])
 *   entry = (h mod 9) − 4              (h unsigned; entry in [−4, 4])
 *
 * with fmix32 MurmurHash3's finaliser. Every seed bit and the size key the
 * matrices, so no two challenges share them. Any implementation (CUDA,
 * PyTorch, WebGPU, this one) computes the same integers, and with entries in
 * [−4, 4] every entry of C = A·B is at most 16·n in magnitude: exact in
 * fp16/bf16 (or int8) products with fp32 (or int32) accumulation, and exact
 * here in float64.
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

/** The keys of a challenge's matrices: SHA-256 of a domain tag, the seed and the size, as eight big-endian words. */
export function matrixKeys(seed: Uint8Array, n: number): Uint32Array {
  if (seed.length !== 32) throw new RangeError(`a challenge seed is 32 bytes, not ${seed.length}`)
  checkSize(n)
  const size = Buffer.alloc(4)
  size.writeUInt32BE(n)
  const digest = createHash('sha256').update('qantara/gpu-challenge/v1\n').update(seed).update(size).digest()
  return Uint32Array.from({ length: 8 }, (_, k) => digest.readUInt32BE(4 * k))
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
