import type { BtcPayoutRail, BtcRelayFeed, ChainRuntime } from '../chains.js'
import { errorMessage } from '../errors.js'
import type { Logger } from '../log.js'
import { submitterRank } from './submitterRank.js'

export interface RelayFeederOptions {
  relayerId: string
  members: string[]
  rail: BtcPayoutRail
  chains: ChainRuntime[]
  /** How long each relayer in line waits for the one before it to retarget. */
  failoverSeconds: number
  logger: Logger
  nowMs?: () => number
}

/**
 * Keeps every escrow chain's light relay on Bitcoin's current epoch: once
 * the headers across the next retarget are deep enough, one relayer (first in
 * a line every relayer computes alike) submits them; the next in line steps in
 * only if the relay has not moved after its wait. A relay behind by several
 * epochs is moved one epoch per pass.
 */
export class RelayFeeder {
  /** When each chain's next retarget first became possible, by chain and epoch. */
  private readonly possibleSince = new Map<string, number>()
  private readonly log: Logger
  private readonly now: () => number

  constructor(private readonly o: RelayFeederOptions) {
    this.log = o.logger.child({ module: 'relay-feeder' })
    this.now = o.nowMs ?? Date.now
  }

  async tick(signal?: AbortSignal): Promise<void> {
    for (const chain of this.o.chains) {
      if (!chain.btcRelay || signal?.aborted) continue
      await this.feed(chain.chain, chain.btcRelay, signal).catch((err: unknown) => this.log.warn({ chain: chain.chain, err: errorMessage(err) }, 'relay retarget failed; retrying next pass'))
    }
  }

  private async feed(chain: string, relay: BtcRelayFeed, signal?: AbortSignal): Promise<void> {
    const state = await relay.state()
    if (!state) return
    const headers = await this.o.rail.retargetHeaders(state.epoch, state.proofLength)
    if (!headers) return
    const task = `retarget:${chain}:${state.epoch}`
    const since = this.possibleSince.get(task) ?? this.now()
    this.possibleSince.set(task, since)
    if (this.now() < since + submitterRank(task, this.o.members, this.o.relayerId) * this.o.failoverSeconds * 1000) return
    const outcome = await relay.retarget(state.epoch, headers, signal)
    this.possibleSince.delete(task)
    this.log.info({ chain, from: state.epoch.toString(), ...outcome }, outcome.status === 'submitted' ? 'relay moved to the next epoch' : 'relay already moved by another relayer')
  }
}
