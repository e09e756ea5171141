import { address } from '@solana/kit'
import type { Logger } from '../../src/log.js'
import type { Store } from '../../src/store/store.js'
import type { SolanaChainConfig } from './config.js'
import type { SolanaRpc } from './rpc.js'
import { SolanaVaultWatcher } from './watcher.js'

/**
 * The vault's watcher as a chain config sets it up, for a relayer and a solver
 * alike, so both read every deposit the same way. A second deposit of an order
 * id is decided from the chain events committed to `store`, which every reader
 * reads alike, never from an orders table filled later (security review
 * 2026-12, section 15).
 */
export function solanaWatcherOf(
  config: SolanaChainConfig,
  rpc: SolanaRpc,
  store: Pick<Store, 'listOrderEvents'>,
  logger: Logger,
): SolanaVaultWatcher {
  const chain = config.id as `solana:${string}`
  return new SolanaVaultWatcher({
    chain,
    rpc,
    vault: address(config.vault),
    mint: address(config.mint),
    memoProgram: config.memoProgram,
    startSlot: BigInt(config.startSlot),
    minRefund: BigInt(config.minRefund),
    minOrderAmount: BigInt(config.minOrderAmount),
    maxPayoutSats: BigInt(config.maxPayoutSats),
    logger,
    knownOrder: async (id, txHash) =>
      (await store.listOrderEvents(chain, id)).some((e) => e.kind === 'OrderOpened' && e.txHash !== txHash),
  })
}
