import { z } from 'zod'
import { keySourceSchema } from '../../src/config/keySource.js'
import { rpcUrl } from '../../src/config/fields.js'

/** CAIP-2 ids: bip122 and the first 16 bytes of each network's genesis hash. */
export const BITCOIN_CHAIN_IDS = {
  mainnet: 'bip122:000000000019d6689c085ae165831e93',
  testnet: 'bip122:000000000933ea01ad0ee984209779ba',
  regtest: 'bip122:0f9188f13cb7b2c71f2a335e3a4fc328',
} as const

export const bitcoinConfigSchema = z.strictObject({
  network: z.enum(['mainnet', 'testnet', 'regtest']).describe('Bitcoin network the payouts are made on; no default, so regtest is never assumed'),
  rpc: z.strictObject({
    url: rpcUrl.describe('Bitcoin Core or btcd JSON-RPC URL (btcd: TLS unless on loopback with --notls; regtest port 18334)'),
    user: z.string().min(1).describe('RPC user'),
    password: keySourceSchema.describe('where the RPC password is read from ({ env: NAME } or { file: PATH })'),
    timeoutMs: z.number().int().min(100).max(120_000).default(10_000).describe('timeout of one RPC request'),
  }).describe('the node payouts are read from'),
  confirmations: z.number().int().min(1).max(100).default(6).describe('blocks, the payout\'s included, before a payout is proved; must match the escrow\'s btcConfirmations'),
  startHeight: z.number().int().min(0).default(0).describe('first block to scan for payouts without a checkpoint'),
  pollIntervalMs: z.number().int().min(50).max(600_000).default(5_000).describe('how often new Bitcoin blocks are looked for'),
})

export type BitcoinConfig = z.infer<typeof bitcoinConfigSchema>
