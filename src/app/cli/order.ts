import {
  createPublicClient,
  createWalletClient,
  formatUnits,
  getAddress,
  http,
  isAddress,
  parseUnits,
  toHex,
  zeroAddress,
  type Address,
  type Hex,
} from 'viem'
import { InvalidArgumentError, type Command } from 'commander'
import { viemChain } from '../../../adapters/evm/chain.js'
import { qantaraEscrowAbi } from '../../../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { evmAccountFromSecret } from '../../../adapters/evm/keys.js'
import { findOrder, openEvmOrder, orderIdFor, tokenDecimals } from '../../../adapters/evm/openOrder.js'
import { readSecret, type KeySource } from '../../config/keySource.js'
import { QantaraError } from '../../errors.js'
import { NATIVE_TOKEN } from '../../order.js'
import { GPU_CLASSES } from '../../gpu/classes.js'
import {
  encodeGpuRequirement,
  formatGpuRequirement,
  parseGpuRequirement,
  type GpuRequirement,
} from '../../gpu/requirement.js'
import { readFileSync, statSync } from 'node:fs'
import { z } from 'zod'
import type { ProviderRecord } from '../../registry/record.js'
import { providerRecordFor, relayerFetch } from './relayerApi.js'

interface ChainOptions {
  rpc: string
  escrow: string
  chain: string
}
interface KeyOptions {
  keyEnv?: string
  keyFile?: string
  keystore?: string
  passwordEnv?: string
}

function clients(o: ChainOptions & KeyOptions, needKey: boolean) {
  const chain = viemChain(o.chain, [o.rpc])
  const publicClient = createPublicClient({ chain, transport: http(o.rpc, { timeout: 30_000 }) })
  if (!isAddress(o.escrow)) throw new QantaraError('CONFIG_INVALID', `--escrow ${o.escrow} is not an address`)
  if (!needKey) return { publicClient, escrow: getAddress(o.escrow) }
  const source: KeySource | undefined = o.keyEnv
    ? { env: o.keyEnv }
    : o.keyFile
      ? { file: o.keyFile }
      : o.keystore
        ? { keystore: o.keystore, passwordEnv: o.passwordEnv }
        : undefined
  if (!source)
    throw new QantaraError(
      'KEY_UNAVAILABLE',
      'give the renter key with --key-env NAME, --key-file PATH or --keystore PATH --password-env NAME',
    )
  const account = evmAccountFromSecret(readSecret(source, process.env, process.cwd()))
  return {
    publicClient,
    escrow: getAddress(o.escrow),
    wallet: createWalletClient({ chain, transport: http(o.rpc, { timeout: 30_000 }), account }),
  }
}

/** The terms every order has, whatever chain holds its payment. */
export function orderTermOptions(cmd: Command, start: string): Command {
  return cmd
    .requiredOption('--provider <id>', 'provider id (its ed25519 public key), from GET /v1/providers')
    .requiredOption('--slots <n>', 'number of slots', (v) => Number.parseInt(v, 10))
    .requiredOption(
      '--gpu <COUNTxCLASS[:VRAM]>',
      `the GPUs rented, e.g. 1xhopper-h100 or 2xada-rtx40:24000MiB; classes: ${GPU_CLASSES.filter(
        (c) => !c.testOnly,
      )
        .map((c) => c.id)
        .join(', ')}`,
      gpuOption,
    )
    .option('--slot-length <seconds>', 'slot length in seconds', (v) => Number.parseInt(v, 10), 60)
    .option('--start <unix|+seconds>', 'start time: unix seconds, or +N from now', start)
    .option('--relayer <url>', "relayer API to look the provider's payout address up at")
    .option('--payout <address>', "provider payout address on the order's chain (instead of --relayer)")
}

function gpuOption(text: string): GpuRequirement {
  try {
    return parseGpuRequirement(text)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
}

function chainOptions(cmd: Command, withKey: boolean): Command {
  cmd
    .requiredOption('--rpc <url>', 'JSON-RPC URL of the escrow chain')
    .requiredOption('--escrow <address>', 'QantaraEscrow address')
    .requiredOption('--chain <caip2>', 'CAIP-2 chain id, e.g. eip155:8453')
  if (withKey)
    cmd
      .option('--key-env <name>', 'env variable holding the renter key')
      .option('--key-file <path>', '0600 file holding the renter key')
      .option('--keystore <path>', 'keystore v3 file')
      .option('--password-env <name>', 'env variable holding the keystore password')
  return cmd
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

/**
 * A BTC quote pays whatever script it names: relayers probe the order only if
 * the provider's signed record lists that script, so a quote for any other
 * (the renter's own, a typo) is refused before anything is locked.
 */
function quoteScriptProblem(record: ProviderRecord, script: string): string | undefined {
  const listed = record.btcScripts ?? []
  if (listed.includes(script.toLowerCase())) return undefined
  return `the quote pays BTC to script ${script.toLowerCase()}, which provider ${record.providerId}'s signed record does not list (${listed.length ? `it lists ${listed.join(', ')}` : 'it lists no Bitcoin script'}): relayers would not probe the order and it would settle as a no-show; ask the solver to quote one of the provider's scripts`
}

/** What `qantara solver quote` prints: the solver's signed terms for one order id. */
const btcQuoteSchema = z.strictObject({
  orderId: z.string().regex(/^0x[0-9a-f]{64}$/i),
  token: z.string().refine((v) => v === NATIVE_TOKEN || isAddress(v), 'neither native nor an address'),
  script: z.string().regex(/^([0-9a-f]{2}){1,10000}$/i),
  solver: z.string().refine((v) => isAddress(v), 'not an address'),
  satsPerE18: z.string().regex(/^[1-9][0-9]{0,30}$/),
  payoutDeadline: z.string().regex(/^[1-9][0-9]{0,15}$/),
  maxAmount: z.string().regex(/^[1-9][0-9]{0,76}$/),
  openBy: z.string().regex(/^[1-9][0-9]{0,15}$/),
  latestEnd: z.string().regex(/^[1-9][0-9]{0,15}$/),
  signature: z.string().regex(/^0x[0-9a-f]{130}$/i),
})

/** Why the escrow would refuse to open this order with `quote`, in the renter's terms; undefined when it would not. */
function quoteProblem(
  quote: z.infer<typeof btcQuoteSchema>,
  token: Address,
  amount: bigint,
  end: bigint,
  now: bigint,
): string | undefined {
  const quoted = quote.token === NATIVE_TOKEN ? zeroAddress : getAddress(quote.token)
  if (quoted !== token) return `the quote is for token ${quote.token}: open with --token ${quote.token}`
  if (amount > BigInt(quote.maxAmount))
    return `--amount is ${amount} smallest units, above the quote's maximum of ${quote.maxAmount}`
  if (now > BigInt(quote.openBy))
    return `the quote expired at ${quote.openBy} (unix seconds): ask the solver for a new one`
  if (end > BigInt(quote.latestEnd))
    return `the order would end at ${end}, after the quote's latest end ${quote.latestEnd}`
  return undefined
}

function readBtcQuote(path: string) {
  // A quote is one short JSON line; a file far bigger is not one.
  if (statSync(path).size > 64 * 1024)
    throw new QantaraError('CONFIG_INVALID', `${path} is too large to be a solver quote`)
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch (cause) {
    throw new QantaraError('CONFIG_INVALID', `${path} is not JSON`, { cause })
  }
  const q = btcQuoteSchema.safeParse(json)
  if (!q.success)
    throw new QantaraError(
      'CONFIG_INVALID',
      `${path} is not a solver quote: ${q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    )
  return q.data
}

/** The `order` commands of escrow chains; returns the `order` command, where vault chains add theirs. */
export function registerOrderCommands(program: Command, out: (line: string) => void): Command {
  const order = program.command('order').description('open, inspect and reclaim orders as a renter')

  orderTermOptions(
    chainOptions(
      order.command('open').description("lock payment for a provider's GPU time in the escrow"),
      true,
    ),
    '+60',
  )
    .requiredOption('--amount <amount>', 'amount in human units of the token, e.g. 12.5')
    .option('--token <address>', 'ERC-20 token address, or "native"', NATIVE_TOKEN)
    .option('--salt <hex>', '32-byte salt; reuse it to retry an open safely')
    .option(
      '--btc-quote <file>',
      "pay the provider in BTC: the solver's quote (from `qantara solver quote`) for the order id of this renter and --salt",
    )
    .option('--json', 'print one JSON line')
    .action(
      async (
        o: ChainOptions &
          KeyOptions & {
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
            json?: boolean
          },
      ) => {
        const { publicClient, escrow, wallet } = clients(o, true)
        const quote = o.btcQuote ? readBtcQuote(o.btcQuote) : undefined
        if (quote) {
          if (!o.salt)
            throw new QantaraError(
              'CONFIG_INVALID',
              "a BTC order needs the --salt its quote's order id was made with (see `qantara order id`)",
            )
          const id = await orderIdFor(publicClient, escrow, wallet!.account.address, o.salt as Hex)
          if (id.toLowerCase() !== quote.orderId.toLowerCase())
            throw new QantaraError(
              'CONFIG_INVALID',
              `the quote is for order ${quote.orderId}, but this renter and salt give ${id}`,
            )
        }
        const token = o.token === NATIVE_TOKEN ? zeroAddress : getAddress(o.token)
        const decimals = await tokenDecimals(publicClient, token)
        const amount = parseUnits(o.amount, decimals)
        // With --relayer, the provider's verified record: for the payout address unless --payout gives it, and to check a BTC quote's script.
        const record =
          o.relayer && (!o.payout || quote)
            ? await providerRecordFor(o.relayer, o.provider, o.chain)
            : undefined
        const payout = o.payout ? getAddress(o.payout) : record ? recordPayout(record, o.chain) : undefined
        if (!payout)
          throw new QantaraError(
            'CONFIG_INVALID',
            'give --relayer (to look the payout address up) or --payout',
          )
        const scriptProblem = quote && record && quoteScriptProblem(record, quote.script)
        if (scriptProblem)
          throw new QantaraError('RECORD_REJECTED', scriptProblem, { context: { reason: 'BAD_BTC_SCRIPT' } })
        const now = BigInt(Math.floor(Date.now() / 1000))
        const start = o.start.startsWith('+') ? now + BigInt(o.start.slice(1)) : BigInt(o.start)
        const script: Hex = `0x${quote?.script.toLowerCase() ?? ''}`
        const problem =
          quote && quoteProblem(quote, token, amount, start + BigInt(o.slotLength) * BigInt(o.slots), now)
        if (problem) throw new QantaraError('CONFIG_INVALID', problem)
        const btc = quote && {
          payout: {
            script,
            solver: getAddress(quote.solver),
            satsPerE18: BigInt(quote.satsPerE18),
            payoutDeadline: BigInt(quote.payoutDeadline),
            maxAmount: BigInt(quote.maxAmount),
            openBy: BigInt(quote.openBy),
            latestEnd: BigInt(quote.latestEnd),
          },
          quoteSignature: quote.signature as Hex,
        }
        const opened = await openEvmOrder(wallet!, publicClient, {
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
          ...(btc ? { btc } : {}),
        })
        const summary = {
          orderId: opened.orderId,
          chain: o.chain,
          txHash: opened.txHash,
          token: token === zeroAddress ? NATIVE_TOKEN : token,
          amount: amount.toString(),
          amountDisplay: formatUnits(amount, decimals),
          start: start.toString(),
          slots: o.slots,
          slotLength: o.slotLength,
          gpu: formatGpuRequirement(o.gpu),
          ...(quote
            ? {
                btc: {
                  script: quote.script.toLowerCase(),
                  solver: getAddress(quote.solver),
                  satsPerE18: quote.satsPerE18,
                  payoutDeadline: quote.payoutDeadline,
                  maxAmount: quote.maxAmount,
                  openBy: quote.openBy,
                  latestEnd: quote.latestEnd,
                },
              }
            : {}),
        }
        out(
          o.json
            ? JSON.stringify(summary)
            : `order ${opened.orderId} opened in ${opened.txHash}: ${summary.amountDisplay} (${amount} smallest units) for ${o.slots} × ${o.slotLength}s of ${summary.gpu}`,
        )
      },
    )

  chainOptions(
    order
      .command('id')
      .description(
        'print the order id a renter and salt will get, for a solver to quote before the order is opened',
      ),
    false,
  )
    .requiredOption('--renter <address>', "the renter's address on the escrow chain")
    .option('--salt <hex>', '32-byte salt; a random one when absent')
    .action(async (o: ChainOptions & { renter: string; salt?: string }) => {
      const { publicClient, escrow } = clients(o, false)
      if (!isAddress(o.renter))
        throw new QantaraError('CONFIG_INVALID', `--renter ${o.renter} is not an address`)
      const salt = (o.salt ?? toHex(crypto.getRandomValues(new Uint8Array(32)))) as Hex
      if (!/^0x[0-9a-fA-F]{64}$/.test(salt))
        throw new QantaraError('CONFIG_INVALID', '--salt must be 32 bytes of hex')
      out(
        JSON.stringify({
          orderId: await orderIdFor(publicClient, escrow, getAddress(o.renter), salt),
          renter: getAddress(o.renter),
          salt,
        }),
      )
    })

  chainOptions(
    order
      .command('status')
      .argument('<orderId>')
      .description('show an order as the relayer and the chain see it'),
    false,
  )
    .option('--relayer <url>', 'relayer API URL')
    .action(async (orderId: string, o: ChainOptions & { relayer?: string }) => {
      const { publicClient, escrow } = clients(o, false)
      const state = await publicClient.readContract({
        address: escrow,
        abi: qantaraEscrowAbi,
        functionName: 'orderState',
        args: [orderId as Hex],
      })
      const onChain =
        BigInt(state) === 0n
          ? 'unknown'
          : BigInt(state) === 1n
            ? 'settled'
            : BigInt(state) === 2n
              ? 'refunded'
              : 'open'
      let relayerView: unknown
      if (o.relayer) {
        const res = await relayerFetch(`${o.relayer.replace(/\/+$/, '')}/v1/orders/${orderId}`, {
          signal: AbortSignal.timeout(10_000),
        })
        relayerView = res.status === 200 ? await res.json() : { error: res.status }
      }
      out(JSON.stringify({ orderId, onChain, relayer: relayerView }))
    })

  chainOptions(
    order
      .command('reclaim')
      .argument('<orderId>')
      .description('take back an order nobody settled after its deadline'),
    true,
  )
    .option('--from-block <n>', 'block to search the order from', '0')
    .action(async (orderId: string, o: ChainOptions & KeyOptions & { fromBlock: string }) => {
      const { publicClient, escrow, wallet } = clients(o, true)
      const terms = await findOrder(publicClient, escrow, orderId as Hex, BigInt(o.fromBlock))
      if (!terms) throw new QantaraError('CONFIG_INVALID', `no OrderOpened for ${orderId} on this escrow`)
      const { request } = await publicClient.simulateContract({
        account: wallet!.account,
        address: escrow,
        abi: qantaraEscrowAbi,
        functionName: 'reclaim',
        args: [orderId as Hex, terms],
      })
      const hash = await wallet!.writeContract(request)
      await publicClient.waitForTransactionReceipt({ hash })
      out(`order ${orderId} reclaimed in ${hash}`)
    })
  return order
}
