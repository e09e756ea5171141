import { createPublicClient, createWalletClient, formatUnits, getAddress, http, isAddress, parseUnits, zeroAddress, type Address, type Hex } from 'viem'
import type { Command } from 'commander'
import { viemChain } from '../../adapters/evm/chain.js'
import { qantaraEscrowAbi } from '../../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { evmAccountFromSecret } from '../../adapters/evm/keys.js'
import { findOrder, openEvmOrder, tokenDecimals } from '../../adapters/evm/openOrder.js'
import { readSecret, type KeySource } from '../config/keySource.js'
import { QantaraError } from '../errors.js'
import { boundedFetch } from '../http/boundedFetch.js'
import { NATIVE_TOKEN } from '../order.js'

interface ChainOptions { rpc: string; escrow: string; chain: string }
interface KeyOptions { keyEnv?: string; keyFile?: string; keystore?: string; passwordEnv?: string }

function clients(o: ChainOptions & KeyOptions, needKey: boolean) {
  const chain = viemChain(o.chain, [o.rpc])
  const publicClient = createPublicClient({ chain, transport: http(o.rpc, { timeout: 30_000 }) })
  if (!isAddress(o.escrow)) throw new QantaraError('CONFIG_INVALID', `--escrow ${o.escrow} is not an address`)
  if (!needKey) return { publicClient, escrow: getAddress(o.escrow) }
  const source: KeySource | undefined = o.keyEnv ? { env: o.keyEnv } : o.keyFile ? { file: o.keyFile } : o.keystore ? { keystore: o.keystore, passwordEnv: o.passwordEnv } : undefined
  if (!source) throw new QantaraError('KEY_UNAVAILABLE', 'give the renter key with --key-env NAME, --key-file PATH or --keystore PATH --password-env NAME')
  const account = evmAccountFromSecret(readSecret(source, process.env, process.cwd()))
  return { publicClient, escrow: getAddress(o.escrow), wallet: createWalletClient({ chain, transport: http(o.rpc, { timeout: 30_000 }), account }) }
}

function chainOptions(cmd: Command, withKey: boolean): Command {
  cmd.requiredOption('--rpc <url>', 'JSON-RPC URL of the escrow chain').requiredOption('--escrow <address>', 'QantaraEscrow address').requiredOption('--chain <caip2>', 'CAIP-2 chain id, e.g. eip155:8453')
  if (withKey) cmd.option('--key-env <name>', 'env variable holding the renter key').option('--key-file <path>', '0600 file holding the renter key').option('--keystore <path>', 'keystore v3 file').option('--password-env <name>', 'env variable holding the keystore password')
  return cmd
}

/** Relayer answers the renter reads (the provider list, one order) are capped: the relayer is someone else's server. */
const relayerFetch = boundedFetch(8 * 1024 * 1024)

async function providerPayout(relayer: string, providerId: string, chain: string): Promise<Address> {
  const res = await relayerFetch(`${relayer.replace(/\/+$/, '')}/v1/providers`, { signal: AbortSignal.timeout(10_000) })
  const { providers } = (await res.json()) as { providers: { record: { providerId: string; payout: Record<string, string> } }[] }
  const record = providers.find((p) => p.record.providerId === providerId.toLowerCase())?.record
  const payout = record?.payout[chain]
  if (!payout || !isAddress(payout)) throw new QantaraError('RECORD_REJECTED', `the relayer knows no provider ${providerId} with a payout address on ${chain}`)
  return getAddress(payout)
}

export function registerOrderCommands(program: Command, out: (line: string) => void): void {
  const order = program.command('order').description('open, inspect and reclaim orders as a renter')

  chainOptions(order.command('open').description('lock payment for a provider\'s GPU time in the escrow'), true)
    .requiredOption('--provider <id>', 'provider id (its ed25519 public key), from GET /v1/providers')
    .requiredOption('--amount <amount>', 'amount in human units of the token, e.g. 12.5')
    .option('--token <address>', 'ERC-20 token address, or "native"', NATIVE_TOKEN)
    .requiredOption('--slots <n>', 'number of slots', (v) => Number.parseInt(v, 10))
    .option('--slot-length <seconds>', 'slot length in seconds', (v) => Number.parseInt(v, 10), 60)
    .option('--start <unix|+seconds>', 'start time: unix seconds, or +N from now', '+60')
    .option('--relayer <url>', 'relayer API to look the provider\'s payout address up at')
    .option('--payout <address>', 'provider payout address (instead of --relayer)')
    .option('--salt <hex>', '32-byte salt; reuse it to retry an open safely')
    .option('--json', 'print one JSON line')
    .action(async (o: ChainOptions & KeyOptions & { provider: string; amount: string; token: string; slots: number; slotLength: number; start: string; relayer?: string; payout?: string; salt?: string; json?: boolean }) => {
      const { publicClient, escrow, wallet } = clients(o, true)
      const token = o.token === NATIVE_TOKEN ? zeroAddress : getAddress(o.token)
      const decimals = await tokenDecimals(publicClient, token)
      const amount = parseUnits(o.amount, decimals)
      const payout = o.payout ? getAddress(o.payout) : o.relayer ? await providerPayout(o.relayer, o.provider, o.chain) : undefined
      if (!payout) throw new QantaraError('CONFIG_INVALID', 'give --relayer (to look the payout address up) or --payout')
      const now = BigInt(Math.floor(Date.now() / 1000))
      const start = o.start.startsWith('+') ? now + BigInt(o.start.slice(1)) : BigInt(o.start)
      const opened = await openEvmOrder(wallet!, publicClient, { escrow, token, amount, providerId: o.provider.toLowerCase() as Hex, payout, start, slotLength: o.slotLength, slots: o.slots, ...(o.salt ? { salt: o.salt as Hex } : {}) })
      const summary = { orderId: opened.orderId, chain: o.chain, txHash: opened.txHash, token: token === zeroAddress ? NATIVE_TOKEN : token, amount: amount.toString(), amountDisplay: formatUnits(amount, decimals), start: start.toString(), slots: o.slots, slotLength: o.slotLength }
      out(o.json ? JSON.stringify(summary) : `order ${opened.orderId} opened in ${opened.txHash}: ${summary.amountDisplay} (${amount} smallest units) for ${o.slots} × ${o.slotLength}s`)
    })

  chainOptions(order.command('status').argument('<orderId>').description('show an order as the relayer and the chain see it'), false)
    .option('--relayer <url>', 'relayer API URL')
    .action(async (orderId: string, o: ChainOptions & { relayer?: string }) => {
      const { publicClient, escrow } = clients(o, false)
      const state = await publicClient.readContract({ address: escrow, abi: qantaraEscrowAbi, functionName: 'orderState', args: [orderId as Hex] })
      const onChain = BigInt(state) === 0n ? 'unknown' : BigInt(state) === 1n ? 'settled' : BigInt(state) === 2n ? 'refunded' : 'open'
      let relayerView: unknown
      if (o.relayer) {
        const res = await relayerFetch(`${o.relayer.replace(/\/+$/, '')}/v1/orders/${orderId}`, { signal: AbortSignal.timeout(10_000) })
        relayerView = res.status === 200 ? await res.json() : { error: res.status }
      }
      out(JSON.stringify({ orderId, onChain, relayer: relayerView }))
    })

  chainOptions(order.command('reclaim').argument('<orderId>').description('take back an order nobody settled after its deadline'), true)
    .option('--from-block <n>', 'block to search the order from', '0')
    .action(async (orderId: string, o: ChainOptions & KeyOptions & { fromBlock: string }) => {
      const { publicClient, escrow, wallet } = clients(o, true)
      const terms = await findOrder(publicClient, escrow, orderId as Hex, BigInt(o.fromBlock))
      if (!terms) throw new QantaraError('CONFIG_INVALID', `no OrderOpened for ${orderId} on this escrow`)
      const { request } = await publicClient.simulateContract({ account: wallet!.account, address: escrow, abi: qantaraEscrowAbi, functionName: 'reclaim', args: [orderId as Hex, terms] })
      const hash = await wallet!.writeContract(request)
      await publicClient.waitForTransactionReceipt({ hash })
      out(`order ${orderId} reclaimed in ${hash}`)
    })
}
