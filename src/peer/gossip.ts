import type { ReleaseLeg } from '../vault/releaseLeg.js'
import type { SettlementSignature } from '../chains.js'
import type { OrderTerms } from '../order.js'
import type { RetargetApproval } from './retargetApprovals.js'
import type { Settlement } from '../settlement.js'
import { HeartbeatPull } from './heartbeatPull.js'
import type { GossipOptions, Peer } from './peerClient.js'
import { pullProviders, type KnownRecord, type SubmitRecord } from './providerPull.js'
import {
  pullRetargetApprovals,
  pullSignatures,
  requestCosignature,
  type VerifySignature,
} from './signaturePull.js'

export type { GossipOptions, Peer } from './peerClient.js'

/**
 * What this relayer pulls from its peers, every answer sealed by the peer's
 * identity key and checked again here: heartbeats (heartbeatPull.ts),
 * settlement signatures, retarget approvals and co-signatures
 * (signaturePull.ts), and provider records (providerPull.ts).
 */
export class Gossip {
  private readonly heartbeats: HeartbeatPull

  constructor(private readonly o: GossipOptions) {
    this.heartbeats = new HeartbeatPull(o)
  }

  get peers(): Peer[] {
    return this.o.peers
  }

  pullHeartbeats(order: OrderTerms, signal?: AbortSignal): Promise<number> {
    return this.heartbeats.pull(order, signal)
  }

  /** Pulls what a peer kept since the last pull, across all orders, with one cursor per peer; all peers when none is named. */
  async pullFeed(peer?: Peer, signal?: AbortSignal): Promise<number> {
    const counts = await Promise.all(
      (peer ? [peer] : this.o.peers).map((p) => this.heartbeats.pullFeed(p, signal)),
    )
    return counts.reduce((a, b) => a + b, 0)
  }

  /** Drops the gossip cursors of an order that reached a final state. */
  forget(orderId: string): void {
    this.heartbeats.forget(orderId)
  }

  pullProviders(submit: SubmitRecord, known: KnownRecord, signal?: AbortSignal): Promise<number> {
    return pullProviders(this.o, submit, known, signal)
  }

  pullSignatures(
    order: OrderTerms,
    settlement: Settlement,
    verify: VerifySignature,
    signal?: AbortSignal,
  ): Promise<void> {
    return pullSignatures(this.o, order, settlement, verify, signal)
  }

  pullRetargetApprovals(
    chain: string,
    epoch: bigint,
    headersHash: string,
    have: ReadonlySet<string>,
    verify: VerifySignature,
    signal?: AbortSignal,
  ): Promise<RetargetApproval[]> {
    return pullRetargetApprovals(this.o, chain, epoch, headersHash, have, verify, signal)
  }

  requestCosignature(
    peerId: string,
    orderId: string,
    message: string,
    leg: ReleaseLeg,
    signal?: AbortSignal,
  ): Promise<SettlementSignature> {
    return requestCosignature(this.o, peerId, orderId, message, leg, signal)
  }
}
