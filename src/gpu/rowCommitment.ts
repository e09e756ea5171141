import { createHash } from 'node:crypto'

const LEAF = Buffer.from([0x00])
const NODE = Buffer.from([0x01])

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}

/** A row of C as committed: its n entries as little-endian int32, hashed with a 0x00 prefix (RFC 6962). */
export function rowLeaf(row: ArrayLike<number>): Buffer {
  const bytes = Buffer.alloc(4 * row.length)
  for (let j = 0; j < row.length; j++) bytes.writeInt32LE(row[j]!, 4 * j)
  return sha256(LEAF, bytes)
}

/**
 * The Merkle tree over C's rows, in row order: inner nodes hashed with a
 * 0x01 prefix, an odd node carried up unchanged. A provider commits to the
 * root before it learns which rows and which vector it will be asked about.
 */
export function rowTree(leaves: Buffer[]): Buffer[][] {
  if (leaves.length === 0) throw new RangeError('no rows to commit to')
  const levels = [leaves]
  while (levels.at(-1)!.length > 1) {
    const level = levels.at(-1)!
    const next: Buffer[] = []
    for (let i = 0; i < level.length; i += 2)
      next.push(i + 1 < level.length ? sha256(NODE, level[i]!, level[i + 1]!) : level[i]!)
    levels.push(next)
  }
  return levels
}

export function rowRoot(levels: Buffer[][]): string {
  return `0x${levels.at(-1)![0]!.toString('hex')}`
}

/** Siblings of row `index` from the leaves up, hex; a level where it has none (carried up) adds nothing. */
export function rowPath(levels: Buffer[][], index: number): string[] {
  const path: string[] = []
  let i = index
  for (const level of levels.slice(0, -1)) {
    const sibling = i % 2 === 0 ? i + 1 : i - 1
    if (sibling < level.length) path.push(`0x${level[sibling]!.toString('hex')}`)
    i = Math.floor(i / 2)
  }
  return path
}

/** Whether `leaf` sits at `index` of a tree of `rows` rows with root `root`, by `path`. */
export function verifyRowPath(
  leaf: Buffer,
  index: number,
  rows: number,
  path: readonly string[],
  root: string,
): boolean {
  let node = leaf
  let i = index
  let width = rows
  let used = 0
  while (width > 1) {
    const sibling = i % 2 === 0 ? i + 1 : i - 1
    if (sibling < width) {
      const hex = path[used++]
      if (hex === undefined || !/^0x[0-9a-f]{64}$/.test(hex)) return false
      const other = Buffer.from(hex.slice(2), 'hex')
      node = i % 2 === 0 ? sha256(NODE, node, other) : sha256(NODE, other, node)
    }
    i = Math.floor(i / 2)
    width = Math.ceil(width / 2)
  }
  return used === path.length && `0x${node.toString('hex')}` === root
}
