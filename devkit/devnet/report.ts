import { zeroAddress, type Address, type Hex } from 'viem'
import { qantaraEscrowAbi } from '../../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { LOCAL_CHAIN, type LocalMarket } from '../localMarket.js'
import type { OpenedOrder } from './scenario.js'
import type { DevnetOrderRow } from './table.js'

type SettledLog = { toProvider: bigint; toRenter: bigint; fee: bigint; upSlots: number; txHash: string }

/** Every order as an honest relayer reports it, with the split the chain actually paid (the escrow's event, or the vault's release). */
export async function readRows(
  relayerUrl: string,
  market: LocalMarket,
  orders: OpenedOrder[],
): Promise<DevnetOrderRow[]> {
  const onChain = await settledOnChain(market.publicClient, market.escrow)
  return Promise.all(
    orders.map(async (x) => {
      const r = await row(relayerUrl, x.id, x.token)
      const released = await x.plan.vault?.released(x.id)
      return withChainSplit(r, released ? { ...released, upSlots: r.upSlots } : onChain.get(x.id))
    }),
  )
}

/** What the escrow actually paid, per order: the table shows the chain's split, not any relayer's claim. */
async function settledOnChain(
  client: LocalMarket['publicClient'],
  escrow: Address,
): Promise<Map<Hex, SettledLog>> {
  const logs = await client.getContractEvents({
    address: escrow,
    abi: qantaraEscrowAbi,
    eventName: 'OrderSettled',
    fromBlock: 0n,
    strict: true,
  })
  return new Map(
    logs.map((l) => [
      l.args.orderId,
      {
        toProvider: l.args.toProvider,
        toRenter: l.args.toRenter,
        fee: l.args.fee,
        upSlots: l.args.upSlots,
        txHash: l.transactionHash,
      },
    ]),
  )
}

function withChainSplit(r: DevnetOrderRow, settled: SettledLog | undefined): DevnetOrderRow {
  if (!settled) return r.status === 'settled' ? { ...r, status: 'settling' } : r
  // A BTC order is settled once its payout is proved, which the relayer reports.
  return {
    ...r,
    status: r.btcTxid !== undefined && r.status !== 'settled' ? 'payout-pending' : 'settled',
    upSlots: settled.upSlots,
    toProvider: settled.toProvider.toString(),
    toRenter: settled.toRenter.toString(),
    fee: settled.fee.toString(),
    txHash: settled.txHash,
  }
}

async function row(relayerUrl: string, orderId: Hex, token: string): Promise<DevnetOrderRow> {
  const res = await fetch(`${relayerUrl}/v1/orders/${orderId}`).catch(() => undefined)
  const r = res?.ok
    ? ((await res.json()) as {
        state: string
        uptime: string
        terms: { chain: string; amount: string; slots: number; btc?: unknown }
        settlement?: {
          upSlots: number
          totalSlots: number
          toProvider: string
          toRenter: string
          fee: string
        }
        reason?: string
        txHash?: string
        btcTxid?: string
        btcSats?: string
      })
    : undefined
  return {
    orderId,
    chain: r?.terms.chain ?? LOCAL_CHAIN,
    token: token === zeroAddress ? 'native' : token,
    status: r?.state ?? 'unseen',
    upSlots: r?.settlement?.upSlots ?? 0,
    totalSlots: r?.terms.slots ?? 0,
    amount: r?.terms.amount ?? '0',
    toProvider: r?.settlement?.toProvider ?? '',
    toRenter: r?.settlement?.toRenter ?? '',
    fee: r?.settlement?.fee ?? '',
    reason: r?.reason ?? '',
    txHash: r?.txHash ?? '',
    uptime: r?.uptime ?? '',
    ...(r?.terms.btc
      ? {
          btcTxid: r.state === 'settled' ? (r.btcTxid ?? '') : '',
          btcAmountSats: r.state === 'settled' ? (r.btcSats ?? '') : '',
        }
      : {}),
  }
}
