import { z } from 'zod'
import { QantaraError } from '../../errors.js'
import type { VaultQuote } from '../../vault/orderMemo.js'
import { vaultAccount } from '../families.js'
import { readQuoteFile } from './btcQuote.js'

const unsigned = (digits: number) => z.string().regex(new RegExp(`^[1-9][0-9]{0,${digits - 1}}$`))

/** What `qantara solver quote` prints for a vault chain's order: the solver's signed terms for one order id. */
const vaultQuoteFile = z.strictObject({
  orderId: z.string().regex(/^0x[0-9a-f]{64}$/),
  token: z.string().min(1).max(128),
  solver: z.string().min(1).max(128),
  /** The solver's public key, where the chain's memo names it by that (Cosmos). */
  solverKey: z
    .string()
    .regex(/^([0-9a-f]{2}){32,33}$/)
    .optional(),
  script: z.string().regex(/^([0-9a-f]{2}){1,80}$/i),
  satsPerE18: unsigned(31),
  payoutDeadline: unsigned(16),
  maxAmount: unsigned(31),
  openBy: unsigned(16),
  latestEnd: unsigned(16),
  signature: z.string().regex(/^0x([0-9a-f]{2}){64,72}$/i),
})
export type VaultQuoteFile = z.infer<typeof vaultQuoteFile>

/** Reads a vault quote file, bounded: one short JSON line. */
export function readVaultQuote(path: string): VaultQuoteFile {
  return readQuoteFile(path, vaultQuoteFile, 'a solver quote for a vault order')
}

/**
 * The quote as an order memo carries it, after the checks the vault's
 * watcher would otherwise make by refunding the deposit: the quote is for
 * this order id, and the order is within its bounds.
 */
export function memoQuote(
  chain: string,
  q: VaultQuoteFile,
  order: { orderId: string; amount: bigint; end: bigint },
  nowS: bigint,
): VaultQuote {
  const problem =
    q.orderId !== order.orderId
      ? `the quote is for order ${q.orderId}, not ${order.orderId}: give the --salt the quote was asked for`
      : order.amount > BigInt(q.maxAmount)
        ? `--amount is ${order.amount}, above the quote's maximum of ${q.maxAmount}`
        : order.end > BigInt(q.latestEnd)
          ? `the order would end at ${order.end}, after the quote's latest end ${q.latestEnd}`
          : nowS > BigInt(q.openBy)
            ? `the quote expired at ${q.openBy} (unix seconds): ask the solver for a new one`
            : undefined
  if (problem) throw new QantaraError('CONFIG_INVALID', problem)
  return {
    script: Uint8Array.from(Buffer.from(q.script, 'hex')),
    solver: q.solverKey
      ? Uint8Array.from(Buffer.from(q.solverKey, 'hex'))
      : vaultAccount(chain, q.solver).bytes,
    satsPerE18: BigInt(q.satsPerE18),
    payoutDeadline: BigInt(q.payoutDeadline),
    maxAmount: BigInt(q.maxAmount),
    openBy: BigInt(q.openBy),
    latestEnd: BigInt(q.latestEnd),
    signature: Uint8Array.from(Buffer.from(q.signature.slice(2), 'hex')),
  }
}
