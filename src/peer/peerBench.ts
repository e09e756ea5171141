/** Invalid items a peer may serve in a minute, over all orders, before it is benched for BENCH_MS. */
const MAX_INVALID_PER_MINUTE = 16
const BENCH_MS = 60_000

/**
 * Peers that served junk: an honest peer serves only what it verified, so
 * one that makes us check invalid heartbeats or transcripts past a budget a
 * minute is not pulled from for a while.
 */
export class PeerBench {
  private readonly benchedUntil = new Map<string, number>()
  private readonly invalid = new Map<string, { since: number; count: number }>()

  benched(peerId: string, now = Date.now()): boolean {
    return (this.benchedUntil.get(peerId) ?? 0) > now
  }

  /** Counts `weight` invalid items from `peerId`; true when that benches it (over the budget in the current minute). */
  spendInvalid(peerId: string, weight = 1): boolean {
    const now = Date.now()
    const spent = this.invalid.get(peerId)
    const window = spent && now - spent.since < 60_000 ? spent : { since: now, count: 0 }
    window.count += weight
    this.invalid.set(peerId, window)
    if (window.count <= MAX_INVALID_PER_MINUTE) return false
    this.benchedUntil.set(peerId, now + BENCH_MS)
    this.invalid.delete(peerId)
    return true
  }
}
