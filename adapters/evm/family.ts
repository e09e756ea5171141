import type { LocalAccount } from 'viem'
import type { EscrowFamily, FamilySigner } from '../../src/family.js'
import { QantaraError } from '../../src/errors.js'
import { NATIVE_TOKEN } from '../../src/order.js'
import { isEvmAddress, tokenAddress, tokenName } from './codec.js'
import { evmChainConfigSchema, type EvmChainConfig } from './config.js'
import { evmDoctor } from './doctor.js'
import { evmAccountFromSecret, evmKeys } from './keys.js'
import { evmRelayerSetTool } from './relayerSet.js'
import { evmQuoteSigner, evmRuntime, evmWatcher } from './runtime.js'

export interface EvmSigner extends FamilySigner {
  readonly family: 'evm'
  readonly account: LocalAccount
}

/** EVM chains: an escrow contract per chain, BTC payouts proved to it, the relayer set rotated by the quorum on chain. */
export const evmFamily = {
  family: 'evm',
  custody: 'escrow',
  btcPayouts: true,
  keys: evmKeys,
  configSchema: evmChainConfigSchema,
  loadSigner(_config, secret): EvmSigner {
    const account = evmAccountFromSecret(secret)
    return { family: 'evm', address: account.address, account }
  },
  memberKeyProblem: (_config, signer, self) =>
    self.evm && self.evm.toLowerCase() !== signer.address.toLowerCase()
      ? `the key's address ${signer.address} is not quorum member ${self.id}'s evm address ${self.evm}`
      : undefined,
  quorumProblems: () => [],
  runtime: (config, signer, parts) =>
    evmRuntime(
      config,
      signer.account,
      new Map(parts.members.flatMap((m) => (m.evm ? [[m.id, m.evm] as const] : []))),
      parts.store,
      parts.logger,
      parts.observeRpc,
    ),
  custodian: (config) => config.escrow,
  deploymentFields: { shared: ['escrow', 'startBlock'], member: [] },
  // Valid, but expensive on a public chain: anyone can open an order in a token whose transfers burn the settler's gas.
  configWarnings: (config) =>
    !config.tokens && config.id !== 'eip155:31337'
      ? [
          `${config.id} has no \`tokens\` list, so this relayer settles orders in any token at any amount and pays their gas`,
        ]
      : [],
  doctor: (config, signer, quorum, deployment) =>
    evmDoctor(config, signer.account.address, quorum, deployment),
  relayerSetTool: (config, signer) => evmRelayerSetTool(config, signer.account),
  solverChain(config, signer, tokens, logger) {
    const names = (tokens ?? [NATIVE_TOKEN]).map((t) => {
      if (t !== NATIVE_TOKEN && !isEvmAddress(t))
        throw new QantaraError(
          'CONFIG_INVALID',
          `tokens.${config.id}: ${t} is neither ${NATIVE_TOKEN} nor an EVM address`,
        )
      return tokenName(tokenAddress(t))
    })
    return {
      chain: config.id,
      address: signer.address,
      pollIntervalMs: config.pollIntervalMs,
      watch: () => evmWatcher(config, logger),
      quote: evmQuoteSigner(config, signer.account),
      tokens: new Set(names),
    }
  },
} satisfies EscrowFamily<EvmChainConfig, EvmSigner>
