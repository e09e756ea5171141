import { createHash } from 'node:crypto'

const LEAF = Buffer.from([0x00])
const NODE = Buffer.from([0x01])

const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}

/** A leaf's hash in the tree, hex: also what picks one heartbeat among several for the same slot and relayer (the lowest wins). */
export function merkleLeafHash(leaf: Uint8Array | string): string {
  return sha256(LEAF, typeof leaf === 'string' ? Buffer.from(leaf) : leaf).toString('hex')
}

/**
 * Merkle root over a set given by its leaves' hashes (`merkleLeafHash`, hex;
 * order does not matter): leaves are hashed with a 0x00 prefix and inner
 * nodes with 0x01 (RFC 6962), so a leaf can never pass for a node; leaf
 * hashes are sorted and deduplicated first, so every relayer holding the same
 * set computes the same root. An odd node is carried up unchanged. The empty
 * set's root is 32 zero bytes. Taking hashes lets a relayer keep only them for
 * an order's heartbeats, not the bodies.
 */
export function merkleRootOfLeafHashes(leafHashes: string[]): `0x${string}` {
  if (leafHashes.length === 0) return `0x${'00'.repeat(32)}`
  const unique = [...new Set(leafHashes)].sort()
  let level: Buffer[] = unique.map((h) => Buffer.from(h, 'hex'))
  while (level.length > 1) {
    const next: Buffer[] = []
    for (let i = 0; i < level.length; i += 2)
      next.push(i + 1 < level.length ? sha256(NODE, level[i]!, level[i + 1]!) : level[i]!)
    level = next
  }
  return `0x${level[0]!.toString('hex')}`
}
