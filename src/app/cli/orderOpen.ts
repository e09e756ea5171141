import type { Command } from 'commander'
import { getAddress, isAddress, zeroAddress, type Address, type Hex } from 'viem'
import { openEvmOrder, orderIdFor } from '../../../adapters/evm/openOrder.js'
import { QantaraError } from '../../errors.js'
import { encodeGpuRequirement, formatGpuRequirement, type GpuRequirement } from '../../gpu/requirement.js'
import { NATIVE_TOKEN } from '../../order.js'
import type { ProviderRecord } from '../../registry/record.js'
import { formatAmount, parseAmount } from './amounts.js'
import { btcTermsOf, quoteProblem, quoteScriptProblem, readBtcQuote } from './btcQuote.js'
import { escrowOptions, escrowWriter, tokenUnit, type EscrowOptions } from './escrowChain.js'
import type { KeySourceOptions } from './options.js'
import { orderTermOptions } from './orderTerms.js'
import type { CliOutput } from './output.js'
import { providerRecordFor } from './relayerApi.js'

interface OpenOptions extends EscrowOptions, KeySourceOptions {
  provider: string
  amount: string
  token: string
  slots: number
  slotLength: number
  gpu: GpuRequirement
  start: string
  relayer?: string
  payout?: string
  salt?: string
  btcQuote?: string
}

function recordPayout(record: ProviderRecord, chain: string): Address {
  const payout = record.payout[chain]!
  if (!isAddress(payout))
    throw new QantaraError(
      'RECORD_REJECTED',
      `provider ${record.providerId}'s payout address on ${chain} is not an EVM address`,
      { context: { reason: 'BAD_PAYOUT' } },
    )
  return getAddress(payout)
}

/** `qantara order open`: locks the payment in the escrow, with the provider's payout from its signed record. */
export function registerOrderOpen(order: Command, io: CliOutput): void {
  orderTermOptions(
    escrowOptions(order.command('open').description("lock payment for a provider's GPU time in the escrow"), {
      key: true,
    }),
    '+60',
  )
    .requiredOption(
      '--amount <units>',
      "what the order locks, in the token's smallest unit (12500000 is 12.5 of a 6-decimal token)",
    )
    .option('--token <address>', 'ERC-20 token address, or "native"', NATIVE_TOKEN)
    .option('--salt <hex>', '32-byte salt; reuse it to retry an open safely')
    .option(
      '--btc-quote <file>',
      "pay the provider in BTC: the solver's quote (from `qantara solver quote`) for the order id of this renter and --salt",
    )
    .action(async (o: OpenOptions) => openOrder(o, io))
}

async function openOrder(o: OpenOptions, io: CliOutput): Promise<void> {
  const { publicClient, escrow, wallet } = escrowWriter(o)
  const quote = o.btcQuote ? readBtcQuote(o.btcQuote) : undefined
  if (quote) {
    if (!o.salt)
      throw new QantaraError(
        'CONFIG_INVALID',
        "a BTC order needs the --salt its quote's order id was made with (see `qantara order id`)",
      )
    const id = await orderIdFor(publicClient, escrow, wallet.account.address, o.salt as Hex)
    if (id.toLowerCase() !== quote.orderId.toLowerCase())
      throw new QantaraError(
        'CONFIG_INVALID',
        `the quote is for order ${quote.orderId}, but this renter and salt give ${id}`,
      )
  }
  if (o.token !== NATIVE_TOKEN && !isAddress(o.token))
    throw new QantaraError('CONFIG_INVALID', `--token ${o.token} is neither "native" nor an address`)
  const token = o.token === NATIVE_TOKEN ? zeroAddress : getAddress(o.token)
  const unit = await tokenUnit(publicClient, token)
  const amount = parseAmount(o.amount, '--amount', unit)
  // With --relayer, the provider's verified record: for the payout address unless --payout gives it, and to check a BTC quote's script.
  const record =
    o.relayer && (!o.payout || quote) ? await providerRecordFor(o.relayer, o.provider, o.chain) : undefined
  const payout = o.payout ? getAddress(o.payout) : record ? recordPayout(record, o.chain) : undefined
  if (!payout)
    throw new QantaraError('CONFIG_INVALID', 'give --relayer (to look the payout address up) or --payout')
  const scriptProblem = quote && record && quoteScriptProblem(record, quote.script)
  if (scriptProblem)
    throw new QantaraError('RECORD_REJECTED', scriptProblem, { context: { reason: 'BAD_BTC_SCRIPT' } })
  const now = BigInt(Math.floor(Date.now() / 1000))
  const start = o.start.startsWith('+') ? now + BigInt(o.start.slice(1)) : BigInt(o.start)
  const problem =
    quote && quoteProblem(quote, token, amount, start + BigInt(o.slotLength) * BigInt(o.slots), now)
  if (problem) throw new QantaraError('CONFIG_INVALID', problem)
  const btc = quote && btcTermsOf(quote)
  const opened = await openEvmOrder(wallet, publicClient, {
    escrow,
    token,
    amount,
    providerId: o.provider.toLowerCase() as Hex,
    payout,
    start,
    slotLength: o.slotLength,
    slots: o.slots,
    gpu: encodeGpuRequirement(o.gpu),
    ...(o.salt ? { salt: o.salt as Hex } : {}),
    ...(btc
      ? {
          btc: {
            payout: {
              script: `0x${btc.script}`,
              solver: btc.solver,
              satsPerE18: BigInt(btc.satsPerE18),
              payoutDeadline: BigInt(btc.payoutDeadline),
              maxAmount: BigInt(btc.maxAmount),
              openBy: BigInt(btc.openBy),
              latestEnd: BigInt(btc.latestEnd),
            },
            quoteSignature: quote.signature as Hex,
          },
        }
      : {}),
  })
  const summary = {
    orderId: opened.orderId,
    chain: o.chain,
    txHash: opened.txHash,
    token: token === zeroAddress ? NATIVE_TOKEN : token,
    amount,
    ...unit,
    start,
    slots: o.slots,
    slotLength: o.slotLength,
    gpu: formatGpuRequirement(o.gpu),
    ...(btc ? { btc } : {}),
  }
  io.result(
    summary,
    () =>
      `order ${opened.orderId} opened in ${opened.txHash}: ${formatAmount(amount, unit)} for ${o.slots} × ${o.slotLength}s of ${summary.gpu}`,
  )
}
