import type { SolverChain } from '../../src/family.js'
import { QantaraError } from '../../src/errors.js'
import { quoteTermsOf } from '../../src/vault/btcQuote.js'
import type { Logger } from '../../src/log.js'
import { signCosmosQuote } from './btcQuote.js'
import type { CosmosChainConfig } from './config.js'
import type { CosmosSigner } from './family.js'
import { cometClient } from './rpc.js'
import { cosmosWatcherOf } from './watcherOf.js'

/**
 * A Cosmos vault as a solver serves it: the vault's watcher, as relayers read
 * it, and quotes signed with the solver's Cosmos key (secp256k1 over sha256,
 * as attestations are), whose account the vault repays. Its tokens are the
 * vault's denoms, or those of them `tokens` names.
 */
export function cosmosSolverChain(
  config: CosmosChainConfig,
  signer: CosmosSigner,
  tokens: readonly string[] | undefined,
  logger: Logger,
): SolverChain {
  for (const t of tokens ?? [])
    if (!config.denoms.includes(t))
      throw new QantaraError(
        'CONFIG_INVALID',
        `tokens.${config.id}: ${t} is not among the vault's denoms (${config.denoms.join(', ')})`,
      )
  let node: ReturnType<typeof cometClient> | undefined
  const comet = () =>
    (node ??= cometClient({
      urls: config.rpc,
      timeoutMs: config.rpcTimeoutMs,
      chain: config.id,
      logger,
      onePerCall: true,
    }).catch((err: unknown) => {
      node = undefined
      throw err
    }))
  return {
    chain: config.id,
    address: signer.address,
    pollIntervalMs: config.pollIntervalMs,
    watch: (store) => cosmosWatcherOf(config, comet, store, logger),
    quote(q) {
      const signature = signCosmosQuote(
        signer.key,
        { chain: config.id, vault: config.vault, orderId: q.orderId as `0x${string}`, token: q.token },
        quoteTermsOf(q),
      )
      return Promise.resolve(`0x${Buffer.from(signature).toString('hex')}`)
    },
    tokens: new Set(tokens ?? config.denoms),
    memoKey: Buffer.from(signer.key.pubkey).toString('hex'),
  }
}
