import { isAddress } from '@solana/kit'
import { z } from 'zod'
import { QantaraError } from '../../src/errors.js'
import { keySourceSchema } from '../../src/config/keySource.js'
import { chainIdIn, rpcUrl } from '../../src/config/fields.js'
import { MEMO_PROGRAM } from './watcher.js'

const solanaAddress = z
  .string()
  .refine((v): boolean => isAddress(v), 'must be a base58 Solana address (32 bytes)')
/** Missing from configs written before releases froze a receipt: say what to create. */
const receiptMintAddress = z
  .string({
    error: (iss) =>
      iss.input === undefined
        ? 'required: create an SPL Token mint with 0 decimals whose freeze and mint authority are `multisig`, and give its address (docs/PROTOCOL.md, "Releases (Solana)")'
        : undefined,
  })
  .refine((v): boolean => isAddress(v), 'must be a base58 Solana address (32 bytes)')

export const solanaChainConfigSchema = z.strictObject({
  family: z.literal('solana').describe('chain family'),
  id: chainIdIn('solana').describe('CAIP-2 chain id: solana:<first 32 characters of the genesis hash>'),
  name: z.string().min(1).optional().describe('label used in logs and metrics; defaults to the chain id'),
  rpc: z
    .array(rpcUrl)
    .min(1, 'give at least one RPC URL')
    .describe('JSON-RPC URLs, tried in order with fail-over; one serving another chain is dropped'),
  vault: solanaAddress.describe('the SPL Token account renters pay into, owned by `multisig`'),
  mint: solanaAddress.describe("the vault's token mint"),
  multisig: solanaAddress.describe(
    "the SPL Token multisig of the relayers' Solana keys that owns the vault; its m is the quorum threshold",
  ),
  receiptMint: receiptMintAddress.describe(
    "the vault's receipt mint: an SPL Token mint of supply 0 whose freeze authority (and mint authority, if any) is `multisig`; each release freezes its order's receipt account of it, which makes the release once-only",
  ),
  nonceAccount: solanaAddress
    .optional()
    .describe(
      "this relayer's durable nonce account (authority: its key): the lifetime of the releases it submits. Required of a relayer; a solver, which releases nothing, leaves it out",
    ),
  memoProgram: solanaAddress.default(MEMO_PROGRAM).describe('the Memo program deposits carry their terms in'),
  startSlot: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe("deposits before this slot are never read (the vault's creation)"),
  minRefund: z
    .string()
    .regex(/^\d{1,20}$/, "must be a whole number of the mint's smallest units")
    .default('0')
    .describe(
      "the least, in the mint's smallest units, a deposit that opens no order must pay for it to be refunded; below it the deposit stays in the vault (a refund costs the relayers ~0.002 SOL of receipt rent). The same on every relayer",
    ),
  minOrderAmount: z
    .string()
    .regex(/^\d{1,20}$/, "must be a whole number of the mint's smallest units")
    .default('0')
    .describe(
      "the least, in the mint's smallest units, a deposit must pay to open an order; below it the deposit opens none and is refunded as a stray deposit (when at least minRefund). An order's release costs the relayers a receipt's rent (~0.002 SOL) like a refund's: set it at least that much worth of the mint. 0, the default, for no minimum beyond one unit per slot. The same on every relayer",
    ),
  maxPayoutSats: z
    .string()
    .regex(/^\d{1,16}$/, 'must be a whole number of satoshis')
    .default('0')
    .describe(
      "the most one order may owe its provider in BTC, in satoshis: a deposit whose solver's quote comes to more opens no order and is refunded. 0, the default, takes no BTC orders (each is refunded); above 0 the relayer config needs a bitcoin section, whose source every relayer checks payouts against. The same on every relayer",
    ),
  pollIntervalMs: z
    .number()
    .int()
    .min(50)
    .max(600_000)
    .default(2_000)
    .describe("how often the vault's history is read"),
  rpcTimeoutMs: z
    .number()
    .int()
    .min(100)
    .max(120_000)
    .default(10_000)
    .describe('timeout of one JSON-RPC request'),
  maxLagSlots: z
    .number()
    .int()
    .min(1)
    .default(150)
    .describe('/healthz reports not ready when the watcher is further behind the finalized slot than this'),
  key: keySourceSchema.describe(
    "this relayer's Solana key: a 32-byte hex seed, or a solana-keygen JSON array of 64 bytes",
  ),
  feeRecipient: solanaAddress
    .optional()
    .describe('wallet paid the relayer fee on this chain (its token account is created when missing)'),
})

export type SolanaChainConfig = z.infer<typeof solanaChainConfigSchema>

/** A relayer's nonce account: the relayer config's check requires it, so only a config that skipped that check lacks it. */
export function relayerNonceAccount(config: SolanaChainConfig): string {
  if (!config.nonceAccount)
    throw new QantaraError('CONFIG_INVALID', `${config.id}: a relayer needs its nonceAccount`)
  return config.nonceAccount
}
