import type { OrderTerms } from '../order.js'
import type { RelayerContext } from './context.js'

/** Longest the last heartbeat pull before settling may take. */
const FINAL_PULL_MS = 30_000

/**
 * What this relayer pulls from its peers in the background: every peer's
 * heartbeat feed (once per gossip interval, all orders at once), a last pull
 * of one order before its settlement is computed, and now and then the provider records peers
 * hold, so a provider registered anywhere is found everywhere.
 */
export class PeerSync {
  /** Orders whose last pull before settling is done (in memory: after a restart it is pulled again). */
  private readonly finalPulled = new Set<string>()

  constructor(private readonly ctx: RelayerContext) {}

  /** Every gossip interval, one pull of each peer's feed: what it kept since the last pull, across all orders. */
  feed(signal: AbortSignal): void {
    const gossip = this.ctx.options.gossip
    if (!gossip) return
    // One task per peer: a slow peer holds back only its own feed.
    for (const peer of gossip.peers)
      this.ctx.tasks.start(
        { kind: 'pull-heartbeats', peer: peer.id },
        () => gossip.pullFeed(peer, signal).then(() => undefined),
        this.ctx.options.gossipIntervalMs ?? 1_000,
      )
  }

  /**
   * Whether the union a settlement is computed from is as complete as the peers can make it; if not, starts the
   * last pull, which runs beside the tick under its own deadline: a peer answering slowly must not hold every
   * other order back.
   */
  finalPullDone(terms: OrderTerms, signal: AbortSignal): boolean {
    const gossip = this.ctx.options.gossip
    if (!gossip || this.finalPulled.has(terms.id)) return true
    this.ctx.tasks.start({ kind: 'final-pull', order: terms.id }, async () => {
      await gossip
        .pullHeartbeats(terms, AbortSignal.any([signal, AbortSignal.timeout(FINAL_PULL_MS)]))
        .catch(() => 0)
      this.finalPulled.add(terms.id)
    })
    return false
  }

  providers(signal: AbortSignal): void {
    const { gossip, registry, gossipIntervalMs } = this.ctx.options
    if (!gossip || !registry) return
    this.ctx.tasks.start(
      { kind: 'pull-providers' },
      async () => {
        await gossip
          .pullProviders(
            (r) => registry.submit(r, signal),
            (id, seq) => registry.known(id, seq),
            signal,
          )
          .catch(() => 0)
      },
      5 * (gossipIntervalMs ?? 1_000),
    )
  }

  forget(orderId: string): void {
    this.finalPulled.delete(orderId)
    this.ctx.options.gossip?.forget(orderId)
  }
}
