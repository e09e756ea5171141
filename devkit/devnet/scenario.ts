import { toHex, zeroAddress, type Address, type HDAccount, type Hex } from 'viem'
import type { EvmBtcPayout } from '../../adapters/evm/codec.js'
import { btcQuoteFor, signBtcQuote } from '../../adapters/evm/eip712.js'
import { openEvmOrder, orderIdFor } from '../../adapters/evm/openOrder.js'
import type { LocalMarket } from '../localMarket.js'
import type { DevnetChains } from './chains.js'
import type { DevnetOptions, Progress } from './options.js'
import type { DevnetVault } from './vault.js'
import { encodeGpuRequirement } from '../../src/gpu/requirement.js'
import { REFERENCE_ORDER_GPU } from '../gpu/referenceGpu.js'

/** One order the devnet opens, `startIn` seconds from now. */
export interface Plan {
  label: string
  token: 'usdc' | 'native' | 'vault' | 'vault-stray'
  vault?: DevnetVault
  amount: bigint
  startIn: number
  btc?: boolean
}

export interface OpenedOrder {
  id: Hex
  plan: Plan
  token: string
}

/** The provider's outages in one order: its GPU gone from the telemetry in slot `gpuLess`, then the agent killed during slots [from, to) and restarted. */
export interface Outage {
  plan: Plan
  gpuLess: number
  slots: [from: number, to: number]
}

/** The devnet's BTC quote: 1 ETH = 0.05 BTC, i.e. 5,000,000 sats per 10^18 wei. */
const DEVNET_SATS_PER_ETH = 5_000_000n
/** And for the vaults' 6-decimal test coin: 1 coin (10^6 units) = 1,000 sats, i.e. 10^15 sats per 10^18 units. */
const DEVNET_SATS_PER_USDC = 10n ** 15n

/** The orders: USDC and ETH at full uptime, USDC through the agent's outage, then one or two per chain the options add. */
export function devnetScenario(o: DevnetOptions, chains: DevnetChains): { plans: Plan[]; outage: Outage } {
  const slotsMs = o.slots * o.slotSeconds * 1000
  // It starts after the first two end, so their uptime is whole.
  const down: Plan = {
    label: 'USDC, provider down mid-order',
    token: 'usdc',
    amount: 8_000_000n,
    startIn: 6 + Math.ceil(slotsMs / 1000),
  }
  const { solana: sol, cosmos: cos } = chains
  const plans: Plan[] = [
    { label: 'USDC, full uptime', token: 'usdc', amount: 12_500_000n, startIn: 4 },
    { label: 'ETH, full uptime', token: 'native', amount: 10n ** 16n, startIn: 4 },
    down,
    ...(o.btc
      ? [
          {
            label: 'ETH, provider paid in BTC',
            token: 'native' as const,
            amount: 10n ** 16n,
            startIn: 8,
            btc: true,
          },
        ]
      : []),
    ...(sol
      ? [
          {
            label: 'Solana vault, full uptime',
            token: 'vault' as const,
            vault: sol,
            amount: 5_000_000n,
            startIn: 8,
          },
          ...(o.btc
            ? [
                {
                  label: 'Solana vault, provider paid in BTC',
                  token: 'vault' as const,
                  vault: sol,
                  amount: 5_000_000n,
                  startIn: 8,
                  btc: true,
                },
              ]
            : []),
          {
            label: 'Solana transfer without a memo, refunded',
            token: 'vault-stray' as const,
            vault: sol,
            amount: 2_000_000n,
            startIn: 0,
          },
        ]
      : []),
    ...(cos
      ? [
          {
            label: 'Cosmos vault, full uptime',
            token: 'vault' as const,
            vault: cos,
            amount: 6_000_000n,
            startIn: 8,
          },
          ...(o.btc
            ? [
                {
                  label: 'Cosmos vault, provider paid in BTC',
                  token: 'vault' as const,
                  vault: cos,
                  amount: 6_000_000n,
                  startIn: 8,
                  btc: true,
                },
              ]
            : []),
          {
            label: 'Cosmos send without a memo, refunded',
            token: 'vault-stray' as const,
            vault: cos,
            amount: 3_000_000n,
            startIn: 0,
          },
        ]
      : []),
  ]
  return { plans, outage: { plan: down, gpuLess: 1, slots: [2, 4] } }
}

/** When the outage starts and ends, in epoch milliseconds, for orders opened at `nowS`. */
export function outageWindow(
  outage: Outage,
  nowS: bigint,
  slotSeconds: number,
): { gpuLess: number; start: number; end: number } {
  const at = (slot: number) => (Number(nowS) + outage.plan.startIn + slot * slotSeconds) * 1000
  return { gpuLess: at(outage.gpuLess), start: at(outage.slots[0]), end: at(outage.slots[1]) }
}

/** Opens every planned order as a renter would, from `nowS`. */
export async function openOrders(
  plans: Plan[],
  market: LocalMarket,
  o: DevnetOptions,
  nowS: bigint,
  progress: Progress,
): Promise<OpenedOrder[]> {
  const { publicClient, renter, escrow, usdc, providerPayout, provider } = market
  const orders: OpenedOrder[] = []
  for (const plan of plans) {
    const start = nowS + BigInt(plan.startIn)
    if (plan.vault) {
      const end = start + BigInt(o.slots * o.slotSeconds)
      const btc =
        plan.btc && market.providerBtcScript
          ? { script: market.providerBtcScript, satsPerE18: DEVNET_SATS_PER_USDC, payoutDeadline: end + 300n }
          : undefined
      const opened =
        plan.token === 'vault-stray'
          ? await plan.vault.stray(plan.amount)
          : await plan.vault.open({
              providerId: provider.publicKey,
              amount: plan.amount,
              start,
              slotLength: o.slotSeconds,
              slots: o.slots,
              ...(btc ? { btc } : {}),
            })
      orders.push({ id: opened.orderId, plan, token: plan.vault.token })
      progress(`opened ${opened.orderId.slice(0, 10)}… (${plan.label}) in ${opened.txHash.slice(0, 10)}…`)
      continue
    }
    const token = plan.token === 'usdc' ? usdc : zeroAddress
    const salt = toHex(crypto.getRandomValues(new Uint8Array(32)))
    const btcTerms =
      plan.btc && market.solverQuoter && market.providerBtcScript
        ? await quote(
            market.solverQuoter,
            publicClient,
            escrow,
            renter.account.address,
            salt,
            market.providerBtcScript,
            { token, amount: plan.amount, end: start + BigInt(o.slots * o.slotSeconds) },
          )
        : undefined
    const opened = await openEvmOrder(renter, publicClient, {
      escrow,
      token,
      amount: plan.amount,
      providerId: provider.publicKey,
      payout: providerPayout,
      start,
      slotLength: o.slotSeconds,
      slots: o.slots,
      gpu: encodeGpuRequirement(REFERENCE_ORDER_GPU),
      salt,
      ...(btcTerms ? { btc: btcTerms } : {}),
    })
    orders.push({ id: opened.orderId, plan, token })
    progress(`opened ${opened.orderId.slice(0, 10)}… (${plan.label}) in ${opened.txHash.slice(0, 10)}…`)
  }
  return orders
}

/**
 * The solver's signed quote for an order id the renter is about to open, as `qantara solver quote` gives it:
 * for exactly this order's token, amount and end, good for two minutes, paid out by 300 s after the end.
 */
async function quote(
  solver: HDAccount,
  client: LocalMarket['publicClient'],
  escrow: Address,
  renter: Address,
  salt: Hex,
  script: string,
  order: { token: Address; amount: bigint; end: bigint },
) {
  const orderId = await orderIdFor(client, escrow, renter, salt)
  const now = (await client.getBlock()).timestamp
  const payout: EvmBtcPayout = {
    script: `0x${script}`,
    solver: solver.address,
    satsPerE18: DEVNET_SATS_PER_ETH,
    payoutDeadline: order.end + 300n,
    maxAmount: order.amount,
    openBy: now + 120n,
    latestEnd: order.end,
  }
  const quoteSignature = await signBtcQuote(
    solver,
    { chainId: client.chain!.id, escrow },
    btcQuoteFor(orderId, order.token, payout),
  )
  return { payout, quoteSignature }
}
