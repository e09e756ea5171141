import type { CometClient } from '@cosmjs/tendermint-rpc'
import type { ChainId } from '../../src/caip2.js'
import type { Logger } from '../../src/log.js'
import type { Store } from '../../src/store/store.js'
import { prefixOf, type CosmosChainConfig } from './config.js'
import { releaseFee } from './release.js'
import { CosmosVaultWatcher } from './watcher.js'

/**
 * The vault's watcher as a chain config sets it up, for a relayer and a solver
 * alike, so both read every deposit the same way. A second deposit of an order
 * id is decided from the chain events committed to `store`, which every reader
 * reads alike, never from an orders table filled later (security review
 * 2026-12, section 15).
 */
export function cosmosWatcherOf(
  config: CosmosChainConfig,
  node: () => Promise<CometClient>,
  store: Pick<Store, 'listOrderEvents'>,
  logger: Logger,
): CosmosVaultWatcher {
  const chain = config.id as ChainId
  const toMap = (amounts: Record<string, string>) =>
    new Map(Object.entries(amounts).map(([denom, v]) => [denom, BigInt(v)]))
  return new CosmosVaultWatcher({
    chain,
    comet: node,
    vault: config.vault,
    prefix: prefixOf(config.vault),
    denoms: config.denoms,
    feeDenom: releaseFee(config).amount[0]?.denom,
    extraDepth: config.extraDepth,
    startHeight: config.startHeight,
    maxBlocksPerPoll: config.maxBlocksPerPoll,
    logger,
    minRefund: toMap(config.minRefund),
    minOrderAmount: toMap(config.minOrderAmount),
    maxPayoutSats: BigInt(config.maxPayoutSats),
    knownOrder: async (id, txHash) =>
      (await store.listOrderEvents(chain, id)).some((e) => e.kind === 'OrderOpened' && e.txHash !== txHash),
  })
}
