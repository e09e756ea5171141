/**
 * The composition root: the one place that knows every chain family. Each
 * switch here ends in an exhaustive `never` check, so adding a family to
 * FAMILY_NAMESPACE fails to compile until it is wired.
 */
import { z } from 'zod'
import type { LocalAccount } from 'viem'
import { evmChainConfigSchema } from '../adapters/evm/config.js'
import { evmAccountFromSecret } from '../adapters/evm/keys.js'
import { evmRelayerSetTool } from '../adapters/evm/relayerSet.js'
import { evmRuntime } from '../adapters/evm/runtime.js'
import type { ChainRuntime, RelayerSetTool } from './chains.js'
import type { Logger } from './log.js'
import type { Store } from './store/store.js'
import { buildConfigSchema } from './config/schema.js'
import { readSecret } from './config/keySource.js'
import { FAMILY_NAMESPACE } from './caip2.js'

const SUPPORTED = ['evm'] as const

export const chainConfigSchema = z.discriminatedUnion('family', [evmChainConfigSchema], {
  error: (iss) => (iss.code === 'invalid_union' ? `unknown chain family; supported: ${SUPPORTED.join(', ')} (known to the design: ${Object.keys(FAMILY_NAMESPACE).join(', ')})` : undefined),
})

export const configSchema = buildConfigSchema(chainConfigSchema).superRefine((c, ctx) => {
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
}

export function loadChainSigner(chain: ChainConfig, env: NodeJS.ProcessEnv, baseDir: string): ChainSigner {
  switch (chain.family) {
    case 'evm': {
      const account = evmAccountFromSecret(readSecret(chain.key, env, baseDir))
      return { family: 'evm', address: account.address, evm: account }
    }
    default: {
      const unreachable: never = chain.family
      throw new Error(`unhandled family ${String(unreachable)}`)
    }
  }
}

/** Builds the runtime of every configured chain, with the signer its key unlocked. */
export function buildChainRuntimes(config: RelayerConfig, signers: ChainSigner[], store: Store, logger: Logger): ChainRuntime[] {
  return config.chains.map((chain, i) => {
    const signer = signers[i]!
    switch (chain.family) {
      case 'evm':
        return evmRuntime(chain, signer.evm!, new Map(config.quorum.members.filter((m) => m.evm).map((m) => [m.id, m.evm!])), store, logger)
      default: {
        const unreachable: never = chain.family
        throw new Error(`unhandled family ${String(unreachable)}`)
      }
    }
  })
}

/** The operator's rotation tool for one configured chain, signing with this relayer's key there. */
export function relayerSetTool(chain: ChainConfig, signer: ChainSigner): RelayerSetTool {
  switch (chain.family) {
    case 'evm':
      return evmRelayerSetTool(chain, signer.evm!)
    default: {
      const unreachable: never = chain.family
      throw new Error(`unhandled family ${String(unreachable)}`)
    }
  }
}
