import type { z } from 'zod'
import { bitcoinConfigSchema } from '../../adapters/bitcoin/config.js'
import { buildConfigSchema } from '../config/schema.js'
import { adapterOf, chainConfigSchema } from './families.js'

/** The relayer config: the core's sections, each family's chains, and the checks that need the whole of it. */
export const configSchema = buildConfigSchema(chainConfigSchema, bitcoinConfigSchema).superRefine(
  (c, ctx) => {
    // Signatures are gathered from peers at their url: without enough of them, every order would stay settling.
    const peers = c.quorum.members.filter((m) => m.id !== c.relayer.id && m.url).length
    // (A threshold above the set's size is reported as that.)
    if (c.quorum.threshold > 1 + peers && c.quorum.threshold <= c.quorum.members.length)
      ctx.addIssue({
        code: 'custom',
        path: ['quorum', 'members'],
        message: `threshold ${c.quorum.threshold} needs ${c.quorum.threshold - 1} peer signature(s), but ${peers} member(s) besides ${c.relayer.id} give a url to gather them from: no settlement could ever be posted`,
      })
    c.chains.forEach((chain, i) => {
      for (const issue of adapterOf(chain.family).quorumProblems(chain, c.quorum))
        ctx.addIssue({ code: 'custom', path: ['chains', i, ...issue.path], message: issue.message })
      // Each relayer judges a vault's BTC payouts from its own Bitcoin source, as the escrow does from its relay.
      if ('maxPayoutSats' in chain && BigInt(chain.maxPayoutSats) > 0n && !c.bitcoin)
        ctx.addIssue({
          code: 'custom',
          path: ['bitcoin'],
          message: `${chain.id} takes BTC orders (maxPayoutSats above 0): give a bitcoin section, the source this relayer checks their payouts against`,
        })
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
