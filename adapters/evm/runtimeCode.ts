import type { Hex } from 'viem'

/** A contract's code as the compiler left it: the bytes a deployment puts on chain, and where its immutables go. */
export interface RuntimeArtifact {
  readonly code: string
  readonly immutables: readonly (readonly [number, number])[]
}

/**
 * Whether `deployed` is `artifact`'s code: byte for byte, except the
 * immutables each deployment's constructor writes. Anything else at an
 * escrow's address (another contract with the same function names, an older
 * build) is not the escrow this relayer was built to trust.
 */
export function isRuntimeOf(deployed: Hex, artifact: RuntimeArtifact): boolean {
  if (deployed.length !== artifact.code.length) return false
  const a = Buffer.from(deployed.slice(2), 'hex')
  const b = Buffer.from(artifact.code.slice(2), 'hex')
  for (const [start, length] of artifact.immutables) {
    a.fill(0, start, start + length)
    b.fill(0, start, start + length)
  }
  return a.equals(b)
}
