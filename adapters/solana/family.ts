import type { FamilySigner, VaultFamily } from '../../src/family.js'
import { solanaChainConfigSchema, type SolanaChainConfig } from './config.js'
import { solanaAccount, solanaKeyFromSecret, type SolanaKey, solanaKeys } from './keys.js'
import { solanaDoctor } from './doctor.js'
import { solanaRuntime } from './runtime.js'
import { solanaSolverChain } from './solverChain.js'

export interface SolanaSigner extends FamilySigner {
  readonly family: 'solana'
  readonly key: SolanaKey
}

/** Solana: deposits into a vault under an SPL Token multisig of the relayers, released by a transaction the round's signers co-sign. */
export const solanaFamily = {
  family: 'solana',
  custody: 'vault',
  btcPayouts: true,
  // An SPL Token multisig cannot change: a new relayer set is a new multisig and vault, funds moved by a release.
  fixedRelayerSet: "a Solana vault's multisig is fixed; rotate by opening a new vault",
  keys: solanaKeys,
  configSchema: solanaChainConfigSchema,
  loadSigner(_config, secret): SolanaSigner {
    const key = solanaKeyFromSecret(secret)
    return { family: 'solana', address: key.address, key }
  },
  memberKeyProblem: (_config, signer, self) =>
    self.solana !== signer.address
      ? `the key's address ${signer.address} is not quorum member ${self.id}'s solana address ${self.solana ?? '(none given)'}`
      : undefined,
  quorumProblems: (config) =>
    config.nonceAccount
      ? []
      : [
          {
            path: ['nonceAccount'],
            message:
              'required of a relayer: its durable nonce account, the lifetime of the releases it submits (qantara vault init solana makes one)',
          },
        ],
  runtime: (config, signer, parts) =>
    solanaRuntime({
      config,
      key: signer.key,
      members: new Map(parts.members.flatMap((m) => (m.solana ? [[m.id, m.solana] as const] : []))),
      store: parts.store,
      logger: parts.logger,
      cosign: parts.cosign,
      ...(parts.observeRpc ? { observeRpc: parts.observeRpc } : {}),
    }),
  custodian: (config) => config.vault,
  deploymentFields: {
    shared: ['vault', 'mint', 'multisig', 'receiptMint', 'startSlot'],
    member: ['nonceAccount'],
  },
  configWarnings: () => [],
  doctor: (config, signer, quorum) => solanaDoctor(config, signer.key.address, quorum),
  vaultAccount: solanaAccount,
  solverChain: solanaSolverChain,
} satisfies VaultFamily<SolanaChainConfig, SolanaSigner>
