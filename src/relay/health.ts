import type { ChainRuntime } from '../chains.js'

export interface ChainStatus {
  head?: bigint
  lag?: bigint
  checkpoint?: bigint
  stopped?: string
}

export interface RelayerHealth {
  ready: boolean
  /** Whether this process runs the relayer's loops now: false before it starts, after it stops, and while it stands by for the leader lease. */
  running: boolean
  chains: Record<string, ChainStatus & { ready: boolean }>
  store: boolean
}

/** Each watcher ready or not: running, and within its chain's lag bound of the head. */
export function chainReadiness(
  status: ReadonlyMap<string, ChainStatus>,
  chains: readonly Pick<ChainRuntime, 'chain' | 'maxLag'>[],
  btc: { chain: string; confirmations: number } | undefined,
): RelayerHealth['chains'] {
  const bounds: { chain: string; maxLag: bigint }[] = chains.map((c) => ({
    chain: c.chain,
    maxLag: c.maxLag,
  }))
  // The Bitcoin payout watcher releases at `confirmations`; a few blocks more is a watcher that has fallen behind.
  if (btc) bounds.push({ chain: btc.chain, maxLag: BigInt(btc.confirmations + 6) })
  const out: RelayerHealth['chains'] = {}
  for (const { chain, maxLag } of bounds) {
    const s = status.get(chain) ?? {}
    out[chain] = { ...s, ready: !s.stopped && s.lag !== undefined && s.lag <= maxLag }
  }
  return out
}
