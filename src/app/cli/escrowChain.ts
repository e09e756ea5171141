import type { Command } from 'commander'
import {
  createPublicClient,
  createWalletClient,
  erc20Abi,
  getAddress,
  http,
  isAddress,
  zeroAddress,
  type Address,
  type Hex,
  type PublicClient,
} from 'viem'
import { viemChain } from '../../../adapters/evm/chain.js'
import { openStateHash, owedStateHash } from '../../../adapters/evm/codec.js'
import type { OrderTerms } from '../../order.js'
import { qantaraEscrowAbi } from '../../../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { evmAccountFromSecret } from '../../../adapters/evm/keys.js'
import { tokenDecimals } from '../../../adapters/evm/openOrder.js'
import { readSecret } from '../../config/keySource.js'
import { QantaraError } from '../../errors.js'
import type { AmountUnit } from './amounts.js'
import { keySourceOf, keySourceOptions, type KeySourceOptions } from './options.js'

/** The flags that name an escrow: its chain, an RPC of it, and its address. */
export interface EscrowOptions {
  rpc: string
  escrow: string
  chain: string
}

/** Adds --rpc, --escrow and --chain (required unless `optional`), and with `key` the renter key's flags. */
export function escrowOptions(cmd: Command, o: { key?: boolean; optional?: boolean } = {}): Command {
  const add = (flags: string, what: string) =>
    o.optional ? cmd.option(flags, what) : cmd.requiredOption(flags, what)
  add('--rpc <url>', 'JSON-RPC URL of the escrow chain')
  add('--escrow <address>', 'QantaraEscrow address')
  add('--chain <caip2>', 'CAIP-2 chain id, e.g. eip155:8453')
  return o.key ? keySourceOptions(cmd, 'the renter key') : cmd
}

export function escrowReader(o: EscrowOptions): { publicClient: PublicClient; escrow: Address } {
  const chain = viemChain(o.chain, [o.rpc])
  if (!isAddress(o.escrow)) throw new QantaraError('CONFIG_INVALID', `--escrow ${o.escrow} is not an address`)
  return {
    publicClient: createPublicClient({ chain, transport: http(o.rpc, { timeout: 30_000 }) }),
    escrow: getAddress(o.escrow),
  }
}

/** The reader and the renter's wallet, whose key comes from the key flags the way a config's key source names it. */
export function escrowWriter(o: EscrowOptions & KeySourceOptions) {
  const account = evmAccountFromSecret(readSecret(keySourceOf(o), process.env, process.cwd()))
  const wallet = createWalletClient({
    chain: viemChain(o.chain, [o.rpc]),
    transport: http(o.rpc, { timeout: 30_000 }),
    account,
  })
  return { ...escrowReader(o), wallet }
}

/** Where the escrow has an order: its stored word is the terms' hash while open (or owed in BTC), else a marker. */
export type EscrowOrderState = 'unknown' | 'open' | 'settled' | 'refunded'

export async function escrowOrderState(
  publicClient: PublicClient,
  escrow: Address,
  orderId: Hex,
): Promise<{ state: EscrowOrderState; word: Hex }> {
  const word = await publicClient.readContract({
    address: escrow,
    abi: qantaraEscrowAbi,
    functionName: 'orderState',
    args: [orderId],
  })
  const n = BigInt(word)
  return { state: n === 0n ? 'unknown' : n === 1n ? 'settled' : n === 2n ? 'refunded' : 'open', word }
}

/**
 * Whether a relayer's terms are the escrow's: while an order is open (or owed
 * in BTC) the escrow stores the hash of its terms, so a relayer's terms either
 * hash to it or are not the order's. Past that only a marker is stored, and the
 * terms can only be the relayer's word.
 */
export function termsMatchEscrow(
  word: Hex,
  terms: OrderTerms,
  settlement: { toProvider: bigint } | undefined,
): boolean {
  const w = word.toLowerCase()
  if (openStateHash(terms).toLowerCase() === w) return true
  return (
    !!terms.btc && !!settlement && owedStateHash({ ...terms, btc: terms.btc }, settlement.toProvider) === w
  )
}

/**
 * A token's decimals and symbol, read from its chain. The symbol is the
 * token contract's to choose, so one that is not a plain short word (control
 * characters for the terminal, a name posing as another token's) is left out.
 */
export async function tokenUnit(publicClient: PublicClient, token: Address): Promise<AmountUnit> {
  const decimals = await tokenDecimals(publicClient, token)
  if (token === zeroAddress) return { decimals, symbol: 'native' }
  const symbol = await publicClient
    .readContract({ address: token, abi: erc20Abi, functionName: 'symbol' })
    .catch(() => undefined)
  return symbol && /^[A-Za-z0-9.$_-]{1,16}$/.test(symbol) ? { decimals, symbol } : { decimals }
}
