import { isAddress } from 'viem'
import { z } from 'zod'
import { keySourceSchema } from '../../src/config/keySource.js'
import { bigintish, chainIdIn, rpcUrl } from '../../src/config/fields.js'

const evmAddress = z
  .string()
  .refine(
    (v) => isAddress(v, { strict: true }),
    'must be a 0x-prefixed 20-byte address with a valid EIP-55 checksum (or all lower case)',
  )

export const evmChainConfigSchema = z.strictObject({
  family: z.literal('evm').describe('chain family'),
  id: chainIdIn('eip155').describe('CAIP-2 chain id, e.g. eip155:1 or eip155:31337 for anvil'),
  name: z.string().min(1).optional().describe('label used in logs and metrics; defaults to the chain id'),
  rpc: z
    .array(rpcUrl)
    .min(1, 'give at least one RPC URL')
    .describe('JSON-RPC URLs, tried in order with fail-over'),
  escrow: evmAddress.describe('address of the deployed QantaraEscrow'),
  startBlock: bigintish
    .default(0n)
    .describe('block to start watching from when there is no checkpoint (the escrow deployment block)'),
  confirmations: z
    .number()
    .int()
    .min(0)
    .max(1000)
    .default(12)
    .describe("blocks on top of an event's block before it is released; deeper reorgs halt the watcher"),
  logRange: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(2_000)
    .describe('largest block range per eth_getLogs; halved automatically when an RPC refuses it'),
  pollIntervalMs: z
    .number()
    .int()
    .min(50)
    .max(600_000)
    .default(2_000)
    .describe('how often the watcher polls for new blocks'),
  rpcTimeoutMs: z
    .number()
    .int()
    .min(100)
    .max(120_000)
    .default(10_000)
    .describe('timeout of one JSON-RPC request'),
  key: keySourceSchema,
  tokens: z
    .record(z.union([z.literal('native'), evmAddress]), bigintish)
    .refine((t) => Object.keys(t).length <= 100, 'at most 100 tokens')
    .optional()
    .describe(
      'the tokens whose orders this relayer settles, each with the least order amount in its smallest unit ("native" for the chain\'s own asset); orders in other tokens or below the amount are not taken on. Absent: every token, any amount — fine on a devnet, not on a public chain where anyone can open an order in a token whose transfers burn the relayers\' gas',
    ),
  feeRecipient: evmAddress
    .optional()
    .describe('address paid the relayer fee on this chain (required when settlement.feeBps > 0)'),
  maxLagBlocks: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe(
      '/healthz reports not ready when the watcher is further behind the head than this; defaults to confirmations + 10',
    ),
  submitter: z
    .strictObject({
      receiptConfirmations: z
        .number()
        .int()
        .min(1)
        .max(1000)
        .default(1)
        .describe('confirmations a settlement transaction needs before it is recorded as final'),
      bumpAfterMs: z
        .number()
        .int()
        .min(100)
        .default(30_000)
        .describe('how long a transaction may stay unmined before its fees are bumped'),
      maxFeePerGasWei: bigintish.describe('hard cap on maxFeePerGas, in wei; fees are never bumped above it'),
      maxSettlementGas: bigintish
        .default(500_000n)
        .describe(
          "the most gas one settlement may use; a settlement whose estimate is above it (a token whose transfers burn gas) is not sent, and the order is left to its renter's reclaim",
        ),
      maxPriorityFeePerGasWei: bigintish.default(2_000_000_000n).describe('cap on the priority fee, in wei'),
    })
    .describe('how settlements are posted to this chain'),
})

export type EvmChainConfig = z.infer<typeof evmChainConfigSchema>
