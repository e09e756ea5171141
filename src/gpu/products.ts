import { createHash } from 'node:crypto'

/**
 * A compute challenge for an order of `count` GPUs is `count` products, one
 * per GPU, all due by the class's one deadline (docs/PROTOCOL.md §9): a
 * provider with fewer GPUs than it sold must do several products on one, and
 * misses it. Product 0 is the single-GPU challenge itself, so an order of one
 * GPU has exactly the bytes it always had.
 */

function uint32be(x: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(x)
  return b
}

function derived(tag: string, base: Uint8Array, i: number): Uint8Array {
  return i === 0 ? base : createHash('sha256').update(tag).update(base).update(uint32be(i)).digest()
}

/** The seed of product i: the challenge's own for i = 0, else SHA-256("qantara/gpu-product/v1\n" ‖ seed ‖ uint32be(i)). */
export function productSeed(seed: Uint8Array, i: number): Uint8Array {
  return derived('qantara/gpu-product/v1\n', seed, i)
}

/** The reveal seed of product i, the same way: its rows and r are drawn apart from every other product's. */
export function productRevealSeed(revealSeed: Uint8Array, i: number): Uint8Array {
  return derived('qantara/gpu-reveal-product/v1\n', revealSeed, i)
}

/**
 * What the heartbeat commits to: the one product's row root, or for several
 * SHA-256("qantara/gpu-roots/v1\n" ‖ root_0 ‖ … ‖ root_{count−1}) over the
 * 32-byte roots.
 */
export function combinedRoot(roots: readonly string[]): string {
  if (roots.length === 1) return roots[0]!
  const h = createHash('sha256').update('qantara/gpu-roots/v1\n')
  for (const r of roots) h.update(Buffer.from(r.slice(2), 'hex'))
  return `0x${h.digest('hex')}`
}
