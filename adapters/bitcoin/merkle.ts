import { sha256d } from './header.js'

export type MerkleProblem = 'BAD_MERKLE_INDEX' | 'BAD_MERKLE_NODE' | 'PHANTOM_DUPLICATE' | 'MERKLE_MISMATCH'

/**
 * Folds a leaf up its branch (siblings leaf level first, internal byte
 * order) and compares with `root`. Two CVE-2012-2459 defences: the index must
 * fit the branch depth, and a step where the running hash is the right child
 * and equals its left sibling is refused, since that node is a duplicate the
 * tree invented, not a transaction. A left child equal to its right sibling is
 * the genuine last node of an odd level.
 */
export function verifyMerkleBranch(
  leaf: Uint8Array,
  siblings: Uint8Array[],
  index: number,
  root: Uint8Array,
): MerkleProblem | undefined {
  if (!Number.isSafeInteger(index) || index < 0 || siblings.length > 32 || index >= 2 ** siblings.length)
    return 'BAD_MERKLE_INDEX'
  let node = Buffer.from(leaf)
  let position = index
  for (const sibling of siblings) {
    if (sibling.length !== 32) return 'BAD_MERKLE_NODE'
    const right = position % 2 === 1
    if (right && node.equals(sibling)) return 'PHANTOM_DUPLICATE'
    node = Buffer.from(sha256d(right ? Buffer.concat([sibling, node]) : Buffer.concat([node, sibling])))
    position = Math.floor(position / 2)
  }
  return node.equals(root) ? undefined : 'MERKLE_MISMATCH'
}

/** The branch of leaf `index` in a block's txid list (internal order), odd levels closed by repeating their last node. */
export function merkleBranch(ids: Uint8Array[], index: number): Uint8Array[] {
  const branch: Uint8Array[] = []
  let level: Buffer[] = ids.map((id) => Buffer.from(id))
  let position = index
  while (level.length > 1) {
    if (level.length % 2 === 1) level.push(level.at(-1)!)
    branch.push(Uint8Array.from(level[position ^ 1]!))
    const next: Buffer[] = []
    for (let i = 0; i < level.length; i += 2)
      next.push(Buffer.from(sha256d(Buffer.concat([level[i]!, level[i + 1]!]))))
    level = next
    position >>= 1
  }
  return branch
}
