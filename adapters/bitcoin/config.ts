import { z } from 'zod'
import { keySourceSchema } from '../../src/config/keySource.js'
import { rpcUrl } from '../../src/config/fields.js'
import { MAINNET, REGTEST } from './header.js'

/**
 * CAIP-2 ids: bip122 and the first 16 bytes of each network's genesis hash.
 * No testnet: its 20-minute minimum-difficulty blocks break the constant
 * bits of an epoch that the light relay checks, so its payouts cannot be proved.
 */
export const BITCOIN_CHAIN_IDS = {
  mainnet: 'bip122:000000000019d6689c085ae165831e93',
  regtest: 'bip122:0f9188f13cb7b2c71f2a335e3a4fc328',
} as const

export const BITCOIN_PARAMS = { mainnet: MAINNET, regtest: REGTEST } as const

export const bitcoinConfigSchema = z
  .strictObject({
    network: z
      .enum(['mainnet', 'regtest'])
      .describe('Bitcoin network the payouts are made on; no default, so regtest is never assumed'),
    rpc: z
      .strictObject({
        url: rpcUrl.describe(
          'Bitcoin Core or btcd JSON-RPC URL (btcd: TLS unless on loopback with --notls; regtest port 18334)',
        ),
        user: z.string().min(1).describe('RPC user'),
        password: keySourceSchema.describe(
          'where the RPC password is read from ({ env: NAME } or { file: PATH })',
        ),
        timeoutMs: z
          .number()
          .int()
          .min(100)
          .max(120_000)
          .default(10_000)
          .describe('timeout of one RPC request'),
      })
      .optional()
      .describe("a node's JSON-RPC: what the solver pays through, and what a relayer may read from"),
    esplora: z
      .strictObject({
        url: rpcUrl.describe(
          "Esplora REST API base URL, e.g. https://blockstream.info/api or one's own electrs",
        ),
        timeoutMs: z.number().int().min(100).max(120_000).default(10_000).describe('timeout of one request'),
      })
      .optional()
      .describe(
        'an Esplora server a relayer reads blocks and proofs from instead of a node (proofs are verified before they are posted)',
      ),
    confirmations: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(6)
      .describe(
        "blocks, the payout's included, before a payout is proved; must match the escrow's btcConfirmations",
      ),
    startHeight: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('first block to scan for payouts without a checkpoint'),
    pollIntervalMs: z
      .number()
      .int()
      .min(50)
      .max(600_000)
      .default(5_000)
      .describe('how often new Bitcoin blocks are looked for'),
  })
  .refine((b) => (b.rpc === undefined) !== (b.esplora === undefined), {
    message: 'give exactly one of bitcoin.rpc and bitcoin.esplora',
  })

export type BitcoinConfig = z.infer<typeof bitcoinConfigSchema>
