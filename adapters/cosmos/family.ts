import type { FamilySigner, VaultFamily } from '../../src/family.js'
import { cosmosChainConfigSchema, prefixOf, type CosmosChainConfig } from './config.js'
import { cosmosAccount, cosmosKeyFromSecret, type CosmosKey, cosmosKeys } from './keys.js'
import { cosmosDoctor } from './doctor.js'
import { cosmosRuntime } from './runtime.js'
import { cosmosSolverChain } from './solverChain.js'

export interface CosmosSigner extends FamilySigner {
  readonly family: 'cosmos'
  readonly key: CosmosKey
}

/** Cosmos SDK chains: deposits into a vault account that is an amino multisig of the relayers' keys, released by a threshold of them. */
export const cosmosFamily = {
  family: 'cosmos',
  custody: 'vault',
  btcPayouts: true,
  // The vault's address is its multisig key's hash: another relayer set is another address.
  fixedRelayerSet: "a Cosmos vault's address is its multisig; rotate by opening a new vault",
  keys: { ...cosmosKeys, prefix: (config) => prefixOf(config.vault) },
  configSchema: cosmosChainConfigSchema,
  loadSigner(config, secret): CosmosSigner {
    const key = cosmosKeyFromSecret(secret, prefixOf(config.vault))
    return { family: 'cosmos', address: key.address, key }
  },
  memberKeyProblem(config, signer, self) {
    const pubkey = Buffer.from(signer.key.pubkey).toString('base64')
    if (self.cosmos !== pubkey)
      return `the key's public key ${pubkey} is not quorum member ${self.id}'s cosmos key ${self.cosmos ?? '(none given)'}`
    return config.multisig.pubkeys.includes(pubkey)
      ? undefined
      : `the key's public key ${pubkey} is not one of the vault's multisig keys`
  },
  // A vault that fewer relayers can release than must agree on a settlement would undo the quorum.
  quorumProblems: (config, quorum) =>
    config.multisig.threshold < quorum.threshold
      ? [
          {
            path: ['multisig', 'threshold'],
            message: `the vault's multisig needs ${config.multisig.threshold} signatures, fewer than quorum.threshold (${quorum.threshold})`,
          },
        ]
      : [],
  runtime: (config, signer, parts) =>
    cosmosRuntime({
      config,
      key: signer.key,
      members: new Map(parts.members.flatMap((m) => (m.cosmos ? [[m.id, m.cosmos] as const] : []))),
      store: parts.store,
      logger: parts.logger,
      cosign: parts.cosign,
      ...(parts.observeRpc ? { observeRpc: parts.observeRpc } : {}),
    }),
  custodian: (config) => config.vault,
  deploymentFields: { shared: ['vault', 'multisig', 'startHeight'], member: [] },
  configWarnings: () => [],
  doctor: (config, _signer, quorum) => cosmosDoctor(config, quorum),
  vaultAccount: cosmosAccount,
  solverChain: cosmosSolverChain,
} satisfies VaultFamily<CosmosChainConfig, CosmosSigner>
