/**
 * The composition root: the one place that knows every chain family. Each
 * switch here ends in an exhaustive `never` check, so adding a family to
 * FAMILY_NAMESPACE fails to compile until it is wired.
 */
import { z } from 'zod'
import type { LocalAccount } from 'viem'
import { evmChainConfigSchema } from '../../adapters/evm/config.js'
import { cosmosChainConfigSchema, prefixOf } from '../../adapters/cosmos/config.js'
import { cosmosAccount, cosmosKeyFromSecret, type CosmosKey } from '../../adapters/cosmos/keys.js'
import { cosmosRuntime } from '../../adapters/cosmos/runtime.js'
import { solanaChainConfigSchema } from '../../adapters/solana/config.js'
import { solanaAccount, solanaKeyFromSecret, type SolanaKey } from '../../adapters/solana/keys.js'
import { solanaRuntime } from '../../adapters/solana/runtime.js'
import { evmAccountFromSecret } from '../../adapters/evm/keys.js'
import { BITCOIN_CHAIN_IDS, BITCOIN_PARAMS, bitcoinConfigSchema, type BitcoinConfig } from '../../adapters/bitcoin/config.js'
import { EsploraClient } from '../../adapters/bitcoin/esplora.js'
import type { BitcoinChainSource } from '../../adapters/bitcoin/source.js'
import { btcPayer } from '../../adapters/bitcoin/payer.js'
import { BtcPayoutWatcher } from '../../adapters/bitcoin/payoutWatcher.js'
import { BtcWallet } from '../../adapters/bitcoin/wallet.js'
import { evmQuoteSigner, evmWatcher } from '../../adapters/evm/runtime.js'
import { isEvmAddress, tokenAddress, tokenName } from '../../adapters/evm/codec.js'
import { buildSpvProof } from '../../adapters/bitcoin/proofBuilder.js'
import { retargetHeaders } from '../../adapters/bitcoin/retargetHeaders.js'
import { BitcoinRpc } from '../../adapters/bitcoin/rpc.js'
import { evmRelayerSetTool } from '../../adapters/evm/relayerSet.js'
import { evmRuntime } from '../../adapters/evm/runtime.js'
import type { BtcPayoutRail, ChainRuntime, Cosigner, RelayerSetTool } from '../chains.js'
import type { Logger } from '../log.js'
import { NATIVE_TOKEN } from '../order.js'
import type { Store } from '../store/store.js'
import { buildConfigSchema } from '../config/schema.js'
import { keySourceSchema, readSecret, type KeySource } from '../config/keySource.js'
import { FAMILY_NAMESPACE, familyOfChain } from '../caip2.js'
import { QantaraError } from '../errors.js'

const SUPPORTED = ['evm', 'solana', 'cosmos'] as const

export const chainConfigSchema = z.discriminatedUnion('family', [evmChainConfigSchema, solanaChainConfigSchema, cosmosChainConfigSchema], {
  error: (iss) => (iss.code === 'invalid_union' ? `unknown chain family; supported: ${SUPPORTED.join(', ')} (known to the design: ${Object.keys(FAMILY_NAMESPACE).join(', ')})` : undefined),
})

export const configSchema = buildConfigSchema(chainConfigSchema, bitcoinConfigSchema).superRefine((c, ctx) => {
  c.chains.forEach((chain, i) => {
    // A vault that fewer relayers can release than must agree on a settlement would undo the quorum.
    if (chain.family === 'cosmos' && chain.multisig.threshold < c.quorum.threshold) {
      ctx.addIssue({ code: 'custom', path: ['chains', i, 'multisig', 'threshold'], message: `the vault's multisig needs ${chain.multisig.threshold} signatures, fewer than quorum.threshold (${c.quorum.threshold})` })
    }
  })
  // Every relayer must compute the same split: a chain without a fee recipient cannot take the quorum's fee.
  if (c.settlement.feeBps === 0) return
  c.chains.forEach((chain, i) => {
    if (!chain.feeRecipient) ctx.addIssue({ code: 'custom', path: ['chains', i, 'feeRecipient'], message: 'settlement.feeBps is above 0, so every chain needs a feeRecipient' })
  })
})

export type RelayerConfig = z.infer<typeof configSchema>
export type ChainConfig = z.infer<typeof chainConfigSchema>

/** What a chain's relayer key unlocks: an address, checked against the quorum config. */
export interface ChainSigner {
  family: ChainConfig['family']
  address: string
  evm?: LocalAccount
  solana?: SolanaKey
  cosmos?: CosmosKey
}

export function loadChainSigner(chain: ChainConfig, env: NodeJS.ProcessEnv, baseDir: string): ChainSigner {
  switch (chain.family) {
    case 'evm': {
      const account = evmAccountFromSecret(readSecret(chain.key, env, baseDir))
      return { family: 'evm', address: account.address, evm: account }
    }
    case 'solana': {
      const key = solanaKeyFromSecret(readSecret(chain.key, env, baseDir))
      return { family: 'solana', address: key.address, solana: key }
    }
    case 'cosmos': {
      const key = cosmosKeyFromSecret(readSecret(chain.key, env, baseDir), prefixOf(chain.vault))
      return { family: 'cosmos', address: key.address, cosmos: key }
    }
    default: {
      const unreachable: never = chain
      throw new Error(`unhandled family ${(unreachable as { family: string }).family}`)
    }
  }
}

/** Why a chain's key is not the one the quorum config names for this relayer, if it is not. */
export function memberKeyProblem(chain: ChainConfig, signer: ChainSigner, self: RelayerConfig['quorum']['members'][number]): string | undefined {
  switch (chain.family) {
    case 'evm':
      return self.evm && self.evm.toLowerCase() !== signer.address.toLowerCase() ? `the key's address ${signer.address} is not quorum member ${self.id}'s evm address ${self.evm}` : undefined
    case 'solana':
      return self.solana !== signer.address ? `the key's address ${signer.address} is not quorum member ${self.id}'s solana address ${self.solana ?? '(none given)'}` : undefined
    case 'cosmos': {
      const pubkey = Buffer.from(signer.cosmos!.pubkey).toString('base64')
      if (self.cosmos !== pubkey) return `the key's public key ${pubkey} is not quorum member ${self.id}'s cosmos key ${self.cosmos ?? '(none given)'}`
      return chain.multisig.pubkeys.includes(pubkey) ? undefined : `the key's public key ${pubkey} is not one of the vault's multisig keys`
    }
    default: {
      const unreachable: never = chain
      throw new Error(`unhandled family ${(unreachable as { family: string }).family}`)
    }
  }
}

/** Builds the runtime of every configured chain, with the signer its key unlocked; `cosign` reaches peers where releases are co-signed. */
export function buildChainRuntimes(config: RelayerConfig, signers: ChainSigner[], store: Store, logger: Logger, cosign: Cosigner): ChainRuntime[] {
  return config.chains.map((chain, i) => {
    const signer = signers[i]!
    switch (chain.family) {
      case 'evm':
        return evmRuntime(chain, signer.evm!, new Map(config.quorum.members.filter((m) => m.evm).map((m) => [m.id, m.evm!])), store, logger)
      case 'solana':
        return solanaRuntime({ config: chain, key: signer.solana!, members: new Map(config.quorum.members.filter((m) => m.solana).map((m) => [m.id, m.solana!])), store, logger, cosign })
      case 'cosmos':
        return cosmosRuntime({ config: chain, key: signer.cosmos!, members: new Map(config.quorum.members.filter((m) => m.cosmos).map((m) => [m.id, m.cosmos!])), store, logger, cosign })
      default: {
        const unreachable: never = chain
        throw new Error(`unhandled family ${(unreachable as { family: string }).family}`)
      }
    }
  })
}

/** The operator's rotation tool for one configured chain, signing with this relayer's key there. */
export function relayerSetTool(chain: ChainConfig, signer: ChainSigner): RelayerSetTool {
  switch (chain.family) {
    case 'evm':
      return evmRelayerSetTool(chain, signer.evm!)
    case 'solana':
      // An SPL Token multisig cannot change: a new relayer set is a new multisig and vault, funds moved by a release.
      throw new QantaraError('CONFIG_INVALID', `${chain.id}: a Solana vault's multisig is fixed; rotate by opening a new vault`)
    case 'cosmos':
      // The vault's address is its multisig key's hash: another relayer set is another address.
      throw new QantaraError('CONFIG_INVALID', `${chain.id}: a Cosmos vault's address is its multisig; rotate by opening a new vault`)
    default: {
      const unreachable: never = chain
      throw new Error(`unhandled family ${(unreachable as { family: string }).family}`)
    }
  }
}

/** An account on a vault chain, as raw bytes (what an order memo carries) and in the form the chain's watcher names it. */
export function vaultAccount(chain: string, address: string): { bytes: Uint8Array; canonical: string } {
  const family = familyOfChain(chain)
  switch (family) {
    case 'solana':
      return solanaAccount(address)
    case 'cosmos':
      return cosmosAccount(address)
    case 'evm':
    case 'bitcoin':
    case undefined:
      throw new QantaraError('CONFIG_INVALID', `${chain} is not a vault chain: open escrow orders with \`qantara order open\``)
    default: {
      const unreachable: never = family
      throw new Error(`unhandled family ${String(unreachable)}`)
    }
  }
}

/** A solver's config: its Bitcoin node and key, and the escrow chains it takes orders on (their key signs its quotes). */
export const solverConfigSchema = z.strictObject({
  store: z.strictObject({ path: z.string().min(1).describe('SQLite file of the solver\'s orders and payments') }),
  log: z.strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info') }).prefault({}),
  bitcoin: bitcoinConfigSchema,
  btcKey: keySourceSchema.describe('the solver wallet\'s key: a WIF, or a wpkh(<WIF>) descriptor, from { env } or { file }'),
  fallbackFeeRate: z.number().min(1).max(1_000).default(2).describe('sat/vB when the node has no estimate (regtest, a fresh node)'),
  maxFeeRate: z.number().min(1).max(10_000).default(200).describe('sat/vB never exceeded, whatever the node estimates'),
  metrics: z.strictObject({ listen: z.string().regex(/^[^:]+:\d+$/).describe('host:port of /metrics') }).optional(),
  chains: z.array(chainConfigSchema).min(1),
  tokens: z.record(z.string(), z.array(z.string().min(1)).min(1)).optional()
    .describe('per escrow chain id, the tokens the solver quotes and pays for (`native` or a token address); a chain left out takes its native asset only. An order in any other token is never paid'),
  proofSafetyFactor: z.number().min(1).max(20).default(3)
    .describe('the time the solver needs before a payout deadline to pay is bitcoin.confirmations × 10 min × this; with less left it does not pay'),
  proofLatencySeconds: z.number().int().min(1).max(30 * 86_400).optional()
    .describe('overrides confirmations × 10 min × proofSafetyFactor: seconds needed between paying and the payout deadline (a regtest devnet, whose blocks come on demand)'),
}).refine((c) => c.bitcoin.rpc !== undefined, { path: ['bitcoin', 'rpc'], message: 'the solver pays through a node: give bitcoin.rpc (Esplora is for relayers)' })
  .refine((c) => Object.keys(c.tokens ?? {}).every((id) => c.chains.some((chain) => chain.id === id)), { path: ['tokens'], message: 'names a chain that is not in chains' })

export type SolverConfig = z.infer<typeof solverConfigSchema>

/** The solver's parts, assembled where the families are known. */
export function buildSolverParts(config: SolverConfig, env: NodeJS.ProcessEnv, baseDir: string, logger: Logger) {
  const b = config.bitcoin
  const rpc = bitcoinRpc(b.rpc!, env, baseDir)
  const wallet = BtcWallet.fromKeyText(plainSecret(config.btcKey, 'btcKey', env, baseDir), b.network)
  const payer = btcPayer({ chain: BITCOIN_CHAIN_IDS[b.network], rpc, wallet, fallbackFeeRate: config.fallbackFeeRate, maxFeeRate: config.maxFeeRate })
  const chains = config.chains.map((chain) => {
    const signer = loadChainSigner(chain, env, baseDir)
    switch (chain.family) {
      case 'evm': {
        const tokens = (config.tokens?.[chain.id] ?? [NATIVE_TOKEN]).map((t) => {
          if (t !== NATIVE_TOKEN && !isEvmAddress(t)) throw new QantaraError('CONFIG_INVALID', `tokens.${chain.id}: ${t} is neither ${NATIVE_TOKEN} nor an EVM address`)
          return tokenName(tokenAddress(t))
        })
        return { chain: chain.id, address: signer.address, pollIntervalMs: chain.pollIntervalMs, watcher: evmWatcher(chain, logger), quote: evmQuoteSigner(chain, signer.evm!), tokens: new Set(tokens) }
      }
      case 'solana':
      case 'cosmos':
        throw new QantaraError('CONFIG_INVALID', `${chain.id}: the solver takes orders on EVM escrows only for now`)
      default: {
        const unreachable: never = chain
        throw new Error(`unhandled family ${(unreachable as { family: string }).family}`)
      }
    }
  })
  return { payer, wallet, chains }
}

/** The Bitcoin payout rail of a relayer whose config has a `bitcoin` section. */
export function buildBtcRail(config: RelayerConfig, store: Store, env: NodeJS.ProcessEnv, baseDir: string): BtcPayoutRail | undefined {
  const b = config.bitcoin
  if (!b) return undefined
  const source: BitcoinChainSource = b.rpc ? bitcoinRpc(b.rpc, env, baseDir) : new EsploraClient(b.esplora!)
  const chain = BITCOIN_CHAIN_IDS[b.network]
  const watcher = new BtcPayoutWatcher({
    chain, source, confirmations: b.confirmations, startHeight: b.startHeight,
    isWatched: async (orderId) => (await store.getOrder(orderId))?.terms.btc !== undefined,
  })
  const params = BITCOIN_PARAMS[b.network]
  return {
    chain, watcher, confirmations: b.confirmations, pollIntervalMs: b.pollIntervalMs,
    buildProof: (txid, blockHash) => buildSpvProof(source, params, txid, blockHash, b.confirmations),
    retargetHeaders: (epoch, proofLength) => retargetHeaders(source, params, epoch, proofLength, b.confirmations),
  }
}

/** A secret that is text, not a key file format: from { env } or { file } only. */
function plainSecret(source: KeySource, what: string, env: NodeJS.ProcessEnv, baseDir: string): string {
  const m = readSecret(source, env, baseDir)
  if (m.kind !== 'hex') throw new QantaraError('CONFIG_INVALID', `${what} is read from { env } or { file }, not a keystore`)
  return m.value
}

function bitcoinRpc(rpc: NonNullable<BitcoinConfig['rpc']>, env: NodeJS.ProcessEnv, baseDir: string): BitcoinRpc {
  return new BitcoinRpc({ url: rpc.url, user: rpc.user, password: plainSecret(rpc.password, 'bitcoin.rpc.password', env, baseDir), timeoutMs: rpc.timeoutMs })
}
