import { getAddressEncoder, address } from '@solana/kit'
import { QantaraError } from '../../src/errors.js'
import { quoteTermsOf } from '../../src/vault/btcQuote.js'
import type { SolverChain } from '../../src/family.js'
import type { Logger } from '../../src/log.js'
import { signSolanaQuote } from './btcQuote.js'
import type { SolanaChainConfig } from './config.js'
import type { SolanaSigner } from './family.js'
import { solanaRpc } from './rpc.js'
import { solanaWatcherOf } from './watcherOf.js'

/**
 * A Solana vault as a solver serves it: the vault's watcher, as relayers read
 * it, and quotes signed with the solver's Solana key, which is also where the
 * vault repays it. The only token is the vault's mint.
 */
export function solanaSolverChain(
  config: SolanaChainConfig,
  signer: SolanaSigner,
  tokens: readonly string[] | undefined,
  logger: Logger,
): SolverChain {
  for (const t of tokens ?? [])
    if (t !== config.mint)
      throw new QantaraError(
        'CONFIG_INVALID',
        `tokens.${config.id}: ${t} is not the vault's mint ${config.mint}, the only token it takes`,
      )
  const rpc = solanaRpc({ urls: config.rpc, timeoutMs: config.rpcTimeoutMs, chain: config.id, logger })
  const solver = Uint8Array.from(getAddressEncoder().encode(address(signer.address)))
  return {
    chain: config.id,
    address: signer.address,
    pollIntervalMs: config.pollIntervalMs,
    watch: (store) => solanaWatcherOf(config, rpc, store, logger),
    quote(q) {
      const signature = signSolanaQuote(
        signer.key.signer,
        { chain: config.id, vault: config.vault, orderId: q.orderId as `0x${string}`, token: q.token },
        { ...quoteTermsOf(q), solver },
      )
      return Promise.resolve(`0x${Buffer.from(signature).toString('hex')}`)
    },
    tokens: new Set([config.mint]),
  }
}
