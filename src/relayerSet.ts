import type { ChainId } from './caip2.js'

/** Who may authorise releases on a chain right now, as the chain itself reports it. */
export interface RelayerSet {
  version: bigint
  /** Chain-native addresses of the members' keys, in the chain's canonical form. */
  members: string[]
  threshold: number
}

/** One operator's signature over a proposed relayer set, as its chain will check it. */
export interface RelayerSetApproval {
  chain: ChainId
  /** The set proposed, at the version it will take (the chain's current version + 1). */
  update: RelayerSet
  signer: string
  signature: string
}

export type RelayerSetApplied = { status: 'applied'; txHash: string } | { status: 'already-applied' }

/**
 * Rotation of a chain's relayer set, for operators: each member approves the
 * same proposal with its own key, and any one of them applies it once a
 * quorum of the current set has approved. Applying twice is harmless.
 */
export interface RelayerSetTool {
  readonly chain: ChainId
  current(): Promise<RelayerSet>
  approve(members: string[], threshold: number): Promise<RelayerSetApproval>
  apply(approvals: RelayerSetApproval[]): Promise<RelayerSetApplied>
}
