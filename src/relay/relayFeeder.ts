import type { BtcRelayFeed, ChainRuntime } from '../chains.js'
import type { BtcPayoutRail } from '../btcRail.js'
import type { Logger } from '../log.js'
import type { Gossip } from '../peer/gossip.js'
import type { Store } from '../store/store.js'
import { retargetHeadersHash, type RetargetApprovals } from '../peer/retargetApprovals.js'
import { isMyTurn } from './turns.js'

export interface RelayFeederOptions {
  relayerId: string
  members: string[]
  /** Approvals a retarget needs on a chain whose relayer set this relayer has not read yet. */
  threshold: number
  rail: BtcPayoutRail
  chains: ChainRuntime[]
  /** Where each chain's relayer set is read, as its watcher recorded it. */
  store: Pick<Store, 'getRelayerSet'>
  /** This relayer's approvals, served to its peers, and theirs once checked. */
  approvals: RetargetApprovals
  /** Absent for a relayer without peers: it retargets alone, where the chain's threshold is 1. */
  gossip?: Pick<Gossip, 'pullRetargetApprovals'>
  /** How long each relayer in line waits for the one before it to retarget. */
  failoverSeconds: number
  logger: Logger
  nowMs?: () => number
}

/**
 * Keeps every escrow chain's light relay on Bitcoin's current epoch. Once the
 * headers across the next retarget are deep enough, every relayer reads them
 * from its own node and approves them; each gathers its peers' approvals of
 * the same headers, and once a quorum approved, one relayer (first in a line
 * every relayer computes alike) submits them; the next in line steps in only
 * if the relay has not moved after its wait. A relay behind by several epochs
 * is moved one epoch per pass.
 */
export class RelayFeeder {
  /** When each chain's next retarget first had a quorum here, by chain and epoch. */
  private readonly possibleSince = new Map<string, number>()
  private readonly log: Logger
  private readonly now: () => number

  constructor(private readonly o: RelayFeederOptions) {
    this.log = o.logger.child({ module: 'relay-feeder' })
    this.now = o.nowMs ?? Date.now
  }

  async tick(signal?: AbortSignal): Promise<void> {
    for (const chain of this.o.chains) {
      const relay = chain.kind === 'escrow' ? chain.btcPayouts?.relay : undefined
      if (!relay || signal?.aborted) continue
      await this.feed(chain.chain, relay, signal).catch((err: unknown) =>
        this.log.warn({ chain: chain.chain, err }, 'relay retarget failed; retrying next pass'),
      )
    }
  }

  private async feed(chain: string, relay: BtcRelayFeed, signal?: AbortSignal): Promise<void> {
    const state = await relay.state()
    if (!state) return
    const { epoch } = state
    const headers = await this.o.rail.retargetHeaders(epoch, state.proofLength, signal)
    if (!headers) return
    const hash = retargetHeadersHash(headers)
    const { approvals, relayerId } = this.o
    if (approvals.get(chain, epoch, relayerId)?.headersHash !== hash) {
      approvals.put(chain, epoch, {
        relayerId,
        headersHash: hash,
        ...(await relay.approveRetarget(epoch, headers)),
      })
      this.log.info({ chain, epoch: epoch.toString(), headersHash: hash }, 'retarget headers approved')
    }
    // Approvals count only from the chain's current set: the escrow checks them against it.
    const set = await this.o.store.getRelayerSet(chain)
    const needed = set?.threshold ?? this.o.threshold
    const usable = () =>
      approvals.list(chain, epoch, hash).filter((a) => !set || set.members.includes(a.signer))
    if (usable().length < needed && this.o.gossip) {
      const have = new Set(usable().map((a) => a.relayerId))
      for (const a of await this.o.gossip.pullRetargetApprovals(
        chain,
        epoch,
        hash,
        have,
        (peer, sig) => relay.verifyRetargetApproval(epoch, headers, peer, sig),
        signal,
      ))
        approvals.put(chain, epoch, a)
    }
    const approved = usable()
    if (approved.length < needed) return
    const task = `retarget:${chain}:${epoch}`
    const since = this.possibleSince.get(task) ?? this.now()
    this.possibleSince.set(task, since)
    if (
      !isMyTurn(
        { relayerId, members: this.o.members, failoverSeconds: this.o.failoverSeconds },
        task,
        since,
        this.now(),
      )
    )
      return
    const outcome = await relay.retarget(epoch, headers, approved.slice(0, needed), signal)
    this.possibleSince.delete(task)
    this.log.info(
      { chain, from: epoch.toString(), approvals: needed, ...outcome },
      outcome.status === 'submitted'
        ? 'relay moved to the next epoch'
        : 'relay already moved by another relayer',
    )
  }
}
