import { createMultisigThresholdPubkey, pubkeyToAddress, type MultisigThresholdPubkey } from '@cosmjs/amino'
import { fromBech32 } from '@cosmjs/encoding'
import { GasPrice } from '@cosmjs/stargate'
import { z } from 'zod'
import { chainIdIn, rpcUrl } from '../../src/config/fields.js'
import { keySourceSchema } from '../../src/config/keySource.js'
import { cosmosAccount } from './keys.js'

const bech32Address = z
  .string()
  .max(128)
  .refine((v) => {
    try {
      return cosmosAccount(v).canonical === v
    } catch {
      return false
    }
  }, 'must be a bech32 account address (20 or 32 bytes, lower case)')

/** A compressed secp256k1 public key in base64, as `simd keys show --pubkey` prints its `key`. */
export const cosmosPubkey = z
  .string()
  .regex(/^[A-Za-z0-9+/]{44}$/, 'must be a 33-byte compressed secp256k1 public key in base64')
  .refine(
    (v) => [2, 3].includes(Buffer.from(v, 'base64')[0]!),
    'must be a compressed secp256k1 public key (first byte 02 or 03)',
  )

const denom = z
  .string()
  .regex(/^[a-zA-Z][a-zA-Z0-9/:._-]{2,127}$/, 'must be a bank denom such as uatom or ibc/<hash>')

export const cosmosChainConfigSchema = z
  .strictObject({
    family: z.literal('cosmos').describe('chain family'),
    id: chainIdIn('cosmos').describe('CAIP-2 chain id: cosmos:<chain-id>, e.g. cosmos:cosmoshub-4'),
    name: z.string().min(1).optional().describe('label used in logs and metrics; defaults to the chain id'),
    rpc: z
      .array(rpcUrl)
      .min(1, 'give at least one RPC URL')
      .describe(
        'CometBFT RPC URLs (with the tx index on), tried in order with fail-over; one serving another chain is dropped',
      ),
    vault: bech32Address.describe(
      "the multisig account renters pay into; its bech32 prefix is the chain's account prefix",
    ),
    multisig: z
      .strictObject({
        threshold: z.number().int().min(1).describe('signatures a release needs'),
        pubkeys: z
          .array(cosmosPubkey)
          .min(1)
          .max(20)
          .describe(
            "the members' keys in the order of the on-chain multisig (sorted, unless it was made with --nosort)",
          ),
      })
      .describe('the amino threshold multisig (LegacyAminoPubKey) whose address is the vault'),
    denoms: z
      .array(denom)
      .min(1)
      .describe('denoms an order may be paid in: native (uatom) or IBC (ibc/<hash>)'),
    gasPrice: z
      .string()
      .refine((v) => {
        try {
          GasPrice.fromString(v)
          return true
        } catch {
          return false
        }
      }, 'must be a gas price such as 0.025uatom')
      .describe(
        "price of a release's gas; the fee is paid by the vault from its fee reserve, and must be the same on every relayer",
      ),
    gasLimit: z
      .number()
      .int()
      .min(50_000)
      .max(10_000_000)
      .default(400_000)
      .describe('gas limit of one release; the same on every relayer'),
    timeoutBlocks: z
      .number()
      .int()
      .min(5)
      .max(10_000)
      .default(60)
      .describe(
        'a release is valid this many blocks past the height it was built at, then it can never land and is rebuilt',
      ),
    extraDepth: z
      .number()
      .int()
      .min(0)
      .max(1_000)
      .default(0)
      .describe('blocks a vault transaction waits on top of CometBFT finality before it is read'),
    startHeight: z
      .number()
      .int()
      .min(1)
      .default(1)
      .describe("vault transactions below this height are never read (the vault's first deposit)"),
    minRefund: z
      .record(
        z.union([denom, z.literal('*')]),
        z.string().regex(/^\d{1,40}$/, "must be a whole number of the denom's smallest units"),
      )
      .default({})
      .describe(
        'per denom (`*`: any other), the least a deposit that opens no order must pay for it to be refunded; below it the deposit stays in the vault, since each refund costs the fee reserve a release fee. The same on every relayer',
      ),
    minOrderAmount: z
      .record(
        z.union([denom, z.literal('*')]),
        z.string().regex(/^\d{1,40}$/, "must be a whole number of the denom's smallest units"),
      )
      .default({})
      .describe(
        "per denom (`*`: any other), the least a deposit must pay to open an order; below it the deposit opens none and is refunded as a stray deposit (when at least minRefund), since an order's release costs the fee reserve a release fee like a refund's. None listed, the default: no minimum beyond one unit per slot. The same on every relayer",
      ),
    maxPayoutSats: z
      .string()
      .regex(/^\d{1,16}$/, 'must be a whole number of satoshis')
      .default('0')
      .describe(
        "the most one order may owe its provider in BTC, in satoshis: a deposit whose solver's quote comes to more opens no order and is refunded. 0, the default, takes no BTC orders (each is refunded); above 0 the relayer config needs a bitcoin section, whose source every relayer checks payouts against. A quote rides in the deposit's memo (about 350 characters): the chain's x/auth max_memo_characters must allow it. The same on every relayer",
      ),
    pollIntervalMs: z
      .number()
      .int()
      .min(50)
      .max(600_000)
      .default(2_000)
      .describe("how often the vault's transactions are searched"),
    maxBlocksPerPoll: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(1_000)
      .describe(
        'heights one poll of the vault reads at most; a window holding more vault transactions than a poll reads (2,000) is halved down to one block, and a busier block is read a few pages per poll',
      ),
    rpcTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(120_000)
      .default(10_000)
      .describe('timeout of one RPC request'),
    maxLagBlocks: z
      .number()
      .int()
      .min(1)
      .default(50)
      .describe('/healthz reports not ready when the watcher is further behind the head than this'),
    key: keySourceSchema.describe("this relayer's secp256k1 key on this chain: 32 bytes of hex"),
    feeRecipient: bech32Address.optional().describe('account paid the relayer fee on this chain'),
  })
  .superRefine((c, ctx) => {
    const { threshold, pubkeys } = c.multisig
    if (threshold > pubkeys.length)
      ctx.addIssue({
        code: 'custom',
        path: ['multisig', 'threshold'],
        message: 'threshold is larger than the multisig',
      })
    else if (new Set(pubkeys).size !== pubkeys.length)
      ctx.addIssue({ code: 'custom', path: ['multisig', 'pubkeys'], message: 'a key is listed twice' })
    else {
      const derived = pubkeyToAddress(vaultMultisig(c), prefixOf(c.vault))
      if (derived !== c.vault)
        ctx.addIssue({
          code: 'custom',
          path: ['multisig'],
          message: `these keys in this order with threshold ${threshold} are account ${derived}, not the vault ${c.vault}; list them in the order of the on-chain multisig`,
        })
    }
    const fees = GasPrice.fromString(c.gasPrice)
    // The vault pays its fees: in an order denom they would come out of renters' deposits.
    if (fees.amount.toString() !== '0' && c.denoms.includes(fees.denom))
      ctx.addIssue({
        code: 'custom',
        path: ['gasPrice'],
        message: `fees in ${fees.denom} would be paid out of renters' deposits; pay fees in a denom orders are not paid in`,
      })
    if (c.feeRecipient && prefixOf(c.feeRecipient) !== prefixOf(c.vault))
      ctx.addIssue({
        code: 'custom',
        path: ['feeRecipient'],
        message: `must be an address of this chain (prefix ${prefixOf(c.vault)})`,
      })
  })

export type CosmosChainConfig = z.infer<typeof cosmosChainConfigSchema>

export const prefixOf = (address: string) => fromBech32(address).prefix

/** The vault's multisig key, in the configured order. */
export function vaultMultisig(c: Pick<CosmosChainConfig, 'multisig'>): MultisigThresholdPubkey {
  return createMultisigThresholdPubkey(
    c.multisig.pubkeys.map((value) => ({ type: 'tendermint/PubKeySecp256k1', value })),
    c.multisig.threshold,
    true,
  )
}
