import { createHash } from 'node:crypto'

/** One relayer's approval of the headers that move a chain's light relay out of an epoch. */
export interface RetargetApproval {
  relayerId: string
  /** retargetHeadersHash of the headers approved. */
  headersHash: string
  /** The chain-native address of the approving key, and its signature as the chain checks it. */
  signer: string
  signature: string
}

/** sha256 of the headers, concatenated: how relayers tell they approved the same ones. */
export function retargetHeadersHash(headers: Uint8Array[]): string {
  const h = createHash('sha256')
  for (const header of headers) h.update(header)
  return `0x${h.digest('hex')}`
}

/**
 * Retarget approvals held in memory: this relayer's own, which its peer route
 * serves, and its peers', once checked. They are cheap to make again (each
 * relayer rebuilds the headers from its node and signs deterministically), so
 * a restart loses nothing that matters. Only a relay's current epoch is kept.
 */
export class RetargetApprovals {
  private readonly byEpoch = new Map<string, { epoch: bigint; approvals: Map<string, RetargetApproval> }>()

  put(chain: string, epoch: bigint, approval: RetargetApproval): void {
    let entry = this.byEpoch.get(chain)
    if (!entry || entry.epoch !== epoch) this.byEpoch.set(chain, (entry = { epoch, approvals: new Map() }))
    entry.approvals.set(approval.relayerId, approval)
  }

  get(chain: string, epoch: bigint, relayerId: string): RetargetApproval | undefined {
    const entry = this.byEpoch.get(chain)
    return entry?.epoch === epoch ? entry.approvals.get(relayerId) : undefined
  }

  /** The approvals of exactly these headers out of `epoch`. */
  list(chain: string, epoch: bigint, headersHash: string): RetargetApproval[] {
    const entry = this.byEpoch.get(chain)
    return entry?.epoch === epoch
      ? [...entry.approvals.values()].filter((a) => a.headersHash === headersHash)
      : []
  }
}
