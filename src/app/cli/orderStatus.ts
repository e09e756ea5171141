import { InvalidArgumentError, type Command } from 'commander'
import { getAddress, isAddress, zeroAddress, type Hex } from 'viem'
import { abortableDelay } from '../../abort.js'
import { QantaraError } from '../../errors.js'
import { redactUrl } from '../../http/redactUrl.js'
import { NATIVE_TOKEN, type OrderTerms } from '../../order.js'
import { custodyOf } from '../families.js'
import { decimalsOption, type AmountUnit } from './amounts.js'
import { escrowOptions, escrowOrderState, escrowReader, termsMatchEscrow, tokenUnit } from './escrowChain.js'
import { EXIT, failureOf } from './exitCodes.js'
import { isFinal, statusJson, statusText, type OrderStatus } from './orderStatusView.js'
import { jsonLine, type CliOutput } from './output.js'
import { relayerOrder } from './relayerOrder.js'

interface StatusOptions {
  rpc?: string
  escrow?: string
  chain?: string
  relayer?: string
  watch?: boolean
  interval: number
  decimals?: number
}

const MAX_INTERVAL_S = 300

function intervalOption(text: string): number {
  if (!/^[0-9]{1,3}$/.test(text) || Number(text) < 1 || Number(text) > MAX_INTERVAL_S)
    throw new InvalidArgumentError(`a whole number of seconds from 1 to ${MAX_INTERVAL_S}`)
  return Number(text)
}

/**
 * `qantara order status`: an escrow order from its chain, with a relayer's
 * per-slot detail when --relayer is given; a vault order (Solana, Cosmos) from
 * a relayer's API, the only place its slots and settlement are kept.
 */
export function registerOrderStatus(order: Command, io: CliOutput, signal: AbortSignal): void {
  escrowOptions(
    order
      .command('status')
      .argument('<orderId>')
      .description(
        "show an order: an escrow order's state from its chain, and a relayer's per-slot view, settlement and transactions (the only source for vault orders)",
      ),
    { optional: true },
  )
    .option('--relayer <url>', "a relayer's API: the order's slots, settlement and transactions")
    .option('--watch', 'print again on every change, until the order is final or Ctrl-C')
    .option('--interval <seconds>', `how often --watch asks, 1-${MAX_INTERVAL_S}`, intervalOption, 5)
    .option(
      '--decimals <n>',
      "the token's decimals, to show amounts with where no chain is read (vault orders)",
      decimalsOption,
    )
    .action(async (orderId: string, o: StatusOptions) => {
      checkSources(orderId, o)
      const read = statusReader(orderId, o, signal)
      if (!o.watch) return printStatus(await read(), io)
      await watch(read, o.interval, io, signal)
    })
}

/** Usage problems, before anything is asked of a chain or a relayer. */
function checkSources(orderId: string, o: StatusOptions): void {
  if (!/^0x[0-9a-fA-F]{64}$/.test(orderId))
    throw new QantaraError('CONFIG_INVALID', `${orderId} is not an order id (32 bytes of 0x hex)`)
  const escrowFlags = [o.rpc, o.escrow].filter((f) => f !== undefined).length
  if (escrowFlags === 1 || (escrowFlags === 2 && !o.chain))
    throw new QantaraError('CONFIG_INVALID', 'an escrow is read with --rpc, --escrow and --chain together')
  const custody = o.chain ? custodyOf(o.chain) : undefined
  if (o.chain && !custody)
    throw new QantaraError(
      'CONFIG_INVALID',
      `--chain ${o.chain} is not a chain of a family Qantara settles on`,
    )
  if (custody === 'vault' && !o.relayer)
    throw new QantaraError(
      'CONFIG_INVALID',
      `a vault order (${o.chain}) is read from a relayer: give --relayer (no contract holds its state)`,
    )
  if (custody === 'vault' && escrowFlags > 0)
    throw new QantaraError('CONFIG_INVALID', `${o.chain} has a vault, not an escrow: drop --rpc and --escrow`)
  if (escrowFlags === 0 && !o.relayer)
    throw new QantaraError(
      'CONFIG_INVALID',
      'give --relayer (any order), or --rpc, --escrow and --chain (an escrow order), or both',
    )
}

/** Reads the order from what the flags name; the token's unit is read once, as it never changes. */
function statusReader(orderId: string, o: StatusOptions, signal: AbortSignal): () => Promise<OrderStatus> {
  const reader =
    o.rpc && o.escrow && o.chain ? escrowReader({ rpc: o.rpc, escrow: o.escrow, chain: o.chain }) : undefined
  let chainUnit: AmountUnit | undefined
  return async () => {
    const [relayer, escrowState] = await Promise.all([
      o.relayer ? relayerOrder(o.relayer, orderId, signal) : undefined,
      reader && escrowOrderState(reader.publicClient, reader.escrow, orderId as Hex),
    ])
    const terms = relayer?.order?.terms
    if (o.chain && terms && terms.chain !== o.chain)
      throw new QantaraError(
        'RPC_BAD_RESPONSE',
        `relayer ${relayer.relayer} answers order ${orderId} as one on ${terms.chain}, not --chain ${o.chain}`,
      )
    // While the order is open the escrow holds its terms' hash: terms that do not hash to it are not the order's.
    const checked =
      escrowState?.state === 'open' && terms
        ? termsMatchEscrow(escrowState.word, terms as OrderTerms, relayer.order?.settlement)
        : undefined
    if (checked === false)
      throw new QantaraError(
        'RPC_BAD_RESPONSE',
        `relayer ${relayer!.relayer} answers order ${orderId} with terms that are not the ones the escrow holds`,
      )
    const chain = o.chain ?? terms?.chain
    // The token's unit is read from the chain only for a token the escrow vouches for, never one a relayer names.
    if (reader && terms && checked && !chainUnit)
      chainUnit = await escrowTokenUnit(reader.publicClient, terms.token)
    const onChain = escrowState?.state
    return {
      orderId: orderId.toLowerCase(),
      chain,
      custody: chain ? custodyOf(chain) : undefined,
      ...(terms ? { termsFrom: checked ? ('escrow' as const) : ('relayer' as const) } : {}),
      ...(onChain ? { onChain, readFrom: `${redactUrl(o.rpc!)}, escrow ${reader!.escrow}` } : {}),
      ...(relayer ? { relayer } : {}),
      unit: chainUnit ?? (o.decimals !== undefined ? { decimals: o.decimals } : {}),
    }
  }
}

/** The unit of an escrow order's token, from its chain; a relayer naming no token of that chain gets none. */
async function escrowTokenUnit(
  publicClient: ReturnType<typeof escrowReader>['publicClient'],
  token: string,
): Promise<AmountUnit | undefined> {
  if (token !== NATIVE_TOKEN && !isAddress(token)) return undefined
  return tokenUnit(publicClient, token === NATIVE_TOKEN ? zeroAddress : getAddress(token))
}

function printStatus(status: OrderStatus, io: CliOutput): void {
  io.result(statusJson(status), () => statusText(status))
}

/**
 * Prints the status, then again each time it changes, until it is final or
 * `signal` aborts (Ctrl-C, which ends the watch with exit code 0). A relayer
 * or RPC out of reach for a while is said once and asked again; anything else
 * ends the watch as it would end one read.
 */
async function watch(
  read: () => Promise<OrderStatus>,
  intervalS: number,
  io: CliOutput,
  signal: AbortSignal,
): Promise<void> {
  let shown: string | undefined
  let failing: string | undefined
  while (!signal.aborted) {
    try {
      const status = await read()
      failing = undefined
      const key = jsonLine(statusJson(status))
      if (key !== shown) {
        if (shown !== undefined && !io.json) io.note('')
        if (!io.json) io.note(`[${new Date().toISOString()}]`)
        printStatus(status, io)
        shown = key
      }
      if (isFinal(status)) return
    } catch (err) {
      if (signal.aborted) return
      const failure = failureOf(err)
      if (failure.exitCode !== EXIT.UNREACHABLE) throw err
      if (failure.message !== failing) io.note(`${failure.message}; asking again every ${intervalS} s`)
      failing = failure.message
    }
    await abortableDelay(intervalS * 1000, signal).catch(() => undefined)
  }
}
