import type { z } from 'zod'
import { bitcoinConfigSchema } from '../../adapters/bitcoin/config.js'
import { buildConfigSchema } from '../config/schema.js'
import { adapterOf, chainConfigSchema } from './families.js'

/** The relayer config: the core's sections, each family's chains, and the checks that need the whole of it. */
export const configSchema = buildConfigSchema(chainConfigSchema, bitcoinConfigSchema).superRefine(
  (c, ctx) => {
    c.chains.forEach((chain, i) => {
      for (const issue of adapterOf(chain.family).quorumProblems(chain, c.quorum))
        ctx.addIssue({ code: 'custom', path: ['chains', i, ...issue.path], message: issue.message })
    })
    // Every relayer must compute the same split: a chain without a fee recipient cannot take the quorum's fee.
    if (c.settlement.feeBps === 0) return
    c.chains.forEach((chain, i) => {
      if (!chain.feeRecipient)
        ctx.addIssue({
          code: 'custom',
          path: ['chains', i, 'feeRecipient'],
          message: 'settlement.feeBps is above 0, so every chain needs a feeRecipient',
        })
    })
  },
)

export type RelayerConfig = z.infer<typeof configSchema>
