import { QantaraError } from '../../src/errors.js'
import {
  getAddress,
  parseEventLogs,
  toHex,
  zeroAddress,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { qantaraEscrowAbi } from './contracts/artifacts/QantaraEscrow.js'
import { testTokenAbi } from './contracts/artifacts/TestToken.js'
import type { EvmBtcPayout, EvmOrder } from './codec.js'

/** An order's terms as the renter gives them (the renter is the wallet), plus where and how to open it. */
export type OpenOrderParameters = Omit<EvmOrder, 'renter'> & {
  escrow: Address
  /** Reusing a salt makes a retried open fail with OrderExists instead of paying twice. */
  salt?: Hex
  /** For a provider paid in BTC: the solver's terms and its signature over them for this order id and token (see `btcQuoteFor`); the escrow holds the order to their bounds. */
  btc?: { payout: EvmBtcPayout; quoteSignature: Hex }
}

export interface OpenedOrder {
  orderId: Hex
  txHash: Hex
  order: EvmOrder
  blockNumber: bigint
}

type Wallet = WalletClient<Transport, Chain, Account>

/** The renter's side of an order: approve the escrow if needed, then open. The same path for the CLI and the devnet. */
export async function openEvmOrder(
  wallet: Wallet,
  client: PublicClient,
  p: OpenOrderParameters,
): Promise<OpenedOrder> {
  const renter = wallet.account.address
  const order: EvmOrder = {
    renter,
    token: p.token,
    amount: p.amount,
    providerId: p.providerId,
    payout: getAddress(p.payout),
    start: p.start,
    slotLength: p.slotLength,
    slots: p.slots,
    gpu: p.gpu,
  }
  if (p.token !== zeroAddress) {
    const allowance = await client.readContract({
      address: p.token,
      abi: testTokenAbi,
      functionName: 'allowance',
      args: [renter, p.escrow],
    })
    if (allowance < p.amount) {
      const hash = await wallet.writeContract({
        address: p.token,
        abi: testTokenAbi,
        functionName: 'approve',
        args: [p.escrow, p.amount],
      })
      const receipt = await client.waitForTransactionReceipt({ hash })
      if (receipt.status !== 'success')
        throw new QantaraError('SUBMIT_REVERTED', `approve ${hash} reverted`, {
          context: { revert: 'MinedRevert' },
        })
    }
  }
  const salt = p.salt ?? toHex(crypto.getRandomValues(new Uint8Array(32)))
  const value = p.token === zeroAddress ? p.amount : 0n
  const txHash = p.btc
    ? await wallet.writeContract(
        (
          await client.simulateContract({
            account: wallet.account,
            address: p.escrow,
            abi: qantaraEscrowAbi,
            functionName: 'openBtc',
            args: [order, p.btc.payout, p.btc.quoteSignature, salt],
            value,
          })
        ).request,
      )
    : await wallet.writeContract(
        (
          await client.simulateContract({
            account: wallet.account,
            address: p.escrow,
            abi: qantaraEscrowAbi,
            functionName: 'open',
            args: [order, salt],
            value,
          })
        ).request,
      )
  const receipt = await client.waitForTransactionReceipt({ hash: txHash })
  if (receipt.status !== 'success')
    throw new QantaraError('SUBMIT_REVERTED', `open ${txHash} reverted`, {
      context: { revert: 'MinedRevert' },
    })
  const [opened] = parseEventLogs({ abi: qantaraEscrowAbi, eventName: 'OrderOpened', logs: receipt.logs })
  if (!opened) throw new QantaraError('RPC_BAD_RESPONSE', `open ${txHash} emitted no OrderOpened`)
  return { orderId: opened.args.orderId, txHash, order, blockNumber: receipt.blockNumber }
}

export async function tokenDecimals(client: PublicClient, token: Address): Promise<number> {
  return token === zeroAddress
    ? 18
    : client.readContract({ address: token, abi: testTokenAbi, functionName: 'decimals' })
}

/** Finds an order's terms from its OrderOpened log (for reclaim and status). */
export async function findOrder(
  client: PublicClient,
  escrow: Address,
  orderId: Hex,
  fromBlock = 0n,
): Promise<EvmOrder | undefined> {
  const logs = await client.getContractEvents({
    address: escrow,
    abi: qantaraEscrowAbi,
    eventName: 'OrderOpened',
    args: { orderId },
    fromBlock,
    strict: true,
  })
  const a = logs[0]?.args
  return (
    a && {
      renter: a.renter,
      token: a.token,
      amount: a.amount,
      providerId: a.providerId,
      payout: a.payout,
      start: a.start,
      slotLength: a.slotLength,
      slots: a.slots,
      gpu: a.gpu,
    }
  )
}

/** The id an order will get, so a solver can sign its quote before the renter opens it. */
export function orderIdFor(client: PublicClient, escrow: Address, renter: Address, salt: Hex): Promise<Hex> {
  return client.readContract({
    address: escrow,
    abi: qantaraEscrowAbi,
    functionName: 'orderIdFor',
    args: [renter, salt],
  })
}
