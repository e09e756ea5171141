import type { Command } from 'commander'
import type { ChainId } from '../../caip2.js'
import { QantaraError } from '../../errors.js'
import { vaultAccount } from '../families.js'
import { orderEnd, type Hex32 } from '../../order.js'
import type { GpuRequirement } from '../../gpu/requirement.js'
import { decodeOrderMemo, encodeOrderMemo, vaultOrderId } from '../../vault/orderMemo.js'
import { vaultOrderProblem } from '../../vault/vaultOrderProblem.js'
import { parseAmount } from './amounts.js'
import { memoQuote, readVaultQuote } from './vaultQuote.js'
import { orderTermOptions } from './orderTerms.js'
import type { CliOutput } from './output.js'
import { providerPayoutText } from './relayerApi.js'

export interface VaultMemoOptions {
  chain: string
  renter: string
  provider: string
  amount: string
  slots: number
  slotLength: number
  gpu: GpuRequirement
  start: string
  payout?: string
  relayer?: string
  salt?: string
  /** A solver's quote file: the provider is paid in BTC. */
  quote?: string
}

/** The memo a renter's deposit into a vault carries, and the order id it will open, checked as the vault's watcher will read it. */
export async function vaultOrderMemo(o: VaultMemoOptions, nowS = BigInt(Math.floor(Date.now() / 1000))) {
  const renter = vaultAccount(o.chain, o.renter).canonical
  if (!/^0x[0-9a-f]{64}$/i.test(o.provider))
    throw new QantaraError(
      'CONFIG_INVALID',
      '--provider must be the provider id: its ed25519 public key, 32 bytes of 0x hex',
    )
  // The memo names the amount the vault must be credited, in the denom's or mint's smallest unit: no decimals to guess.
  const amount = parseAmount(o.amount, '--amount')
  if (!/^(\+?[0-9]{1,12})$/.test(o.start))
    throw new QantaraError('CONFIG_INVALID', '--start is unix seconds, or +N from now')
  const payoutText =
    o.payout ?? (o.relayer ? await providerPayoutText(o.relayer, o.provider, o.chain) : undefined)
  if (!payoutText)
    throw new QantaraError('CONFIG_INVALID', 'give --relayer (to look the payout address up) or --payout')
  const payout = vaultAccount(o.chain, payoutText)
  if (o.salt !== undefined && !/^(0x)?[0-9a-fA-F]{32}$/.test(o.salt))
    throw new QantaraError('CONFIG_INVALID', '--salt must be 16 bytes of hex')
  const salt = o.salt
    ? Buffer.from(o.salt.replace(/^0x/, ''), 'hex')
    : crypto.getRandomValues(new Uint8Array(16))
  const start = o.start.startsWith('+') ? nowS + BigInt(o.start.slice(1)) : BigInt(o.start)
  const terms = {
    salt: Uint8Array.from(salt),
    providerId: o.provider.toLowerCase() as Hex32,
    start,
    slotLength: o.slotLength,
    slots: o.slots,
    gpu: o.gpu,
    amount,
    payout: payout.bytes,
  }
  const orderId = vaultOrderId(o.chain as ChainId, renter, terms.salt)
  const quote = o.quote
    ? memoQuote(o.chain, readVaultQuote(o.quote), { orderId, amount, end: orderEnd(terms) }, nowS)
    : undefined
  let memo: string
  try {
    memo = encodeOrderMemo({ ...terms, ...(quote ? { quote } : {}) })
  } catch (err) {
    throw new QantaraError('CONFIG_INVALID', `these terms make no order memo: ${(err as Error).message}`)
  }
  // What the watcher will do with it: a memo it refuses would leave the deposit to be refunded.
  const read = decodeOrderMemo(memo)
  if (!read.ok)
    throw new QantaraError(
      'CONFIG_INVALID',
      `these terms make a memo the vault's watcher refuses (${read.reason}): check --slots (1–100000) and --slot-length (1–86400)`,
    )
  // The chain's minimum order is the relayers' config, not known here; an order that has ended already is refused everywhere.
  if (vaultOrderProblem({ order: terms, blockTime: nowS, minOrderAmount: 0n }))
    throw new QantaraError(
      'CONFIG_INVALID',
      "this order ends before a deposit could land: the vault's watcher would open no order and refund the deposit (ORDER_ALREADY_ENDED); check --start",
    )
  return {
    orderId,
    chain: o.chain,
    renter,
    memo,
    salt: `0x${Buffer.from(terms.salt).toString('hex')}`,
    amount: amount.toString(),
    start: start.toString(),
    slots: o.slots,
    slotLength: o.slotLength,
    payout: payout.canonical,
  }
}

export function registerVaultMemoCommand(order: Command, io: CliOutput): void {
  // A deposit is sent by hand from a wallet: five minutes to do it before the order starts.
  orderTermOptions(order.command('memo'), '+300')
    .description(
      'print the memo a deposit into a vault (Solana, Cosmos) carries, and the order id it opens; send the amount to the vault with it, from --renter',
    )
    .requiredOption('--chain <caip2>', 'the vault chain, e.g. cosmos:cosmoshub-4')
    .requiredOption(
      '--renter <address>',
      'the address the deposit is sent from: the order id is derived from it',
    )
    .requiredOption(
      '--amount <units>',
      'what the vault must receive, in the smallest unit of the denom or mint',
    )
    .option('--salt <hex>', '16-byte salt; a random one when absent')
    .option(
      '--quote <file>',
      "a solver's quote for this order id (qantara solver quote): the provider is paid in BTC; give the --salt the order id came from",
    )
    .action(async (o: VaultMemoOptions) => {
      const memo = await vaultOrderMemo(o)
      // What the deposit is sent with, to be copied into a wallet: JSON either way.
      io.result(memo, () => JSON.stringify(memo))
    })
}
