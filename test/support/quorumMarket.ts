import { REFERENCE_GPU_WORD, REFERENCE_ORDER_GPU } from '../../devkit/gpu/referenceGpu.js'
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import type { Hex } from 'viem'
import { startAnvil, type Anvil } from '../../devkit/chains/anvil.js'
import { qantaraEscrowAbi } from '../../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { testTokenAbi } from '../../adapters/evm/contracts/artifacts/TestToken.js'
import { openEvmOrder } from '../../adapters/evm/openOrder.js'
import {
  launchQantara,
  launchRelayer,
  providerListed,
  setUpLocalMarket,
  type LocalMarket,
} from '../../devkit/localMarket.js'
import type { OrderTerms } from '../../src/order.js'
import { tempDir } from './tmp.js'
import { waitFor } from '../../devkit/waitFor.js'

export const SLOT = 2

export interface QuorumRun {
  anvil: Anvil
  market: LocalMarket
  dir: string
  processes: (ChildProcess | undefined)[]
  orders: OrderTerms[]
  restart(i: number): void
  stop(): Promise<void>
}

/** A quorum of relayer processes on one anvil with one agent; `down` relayers are never started. */
export async function startQuorum(o: {
  relayers: number
  threshold: number
  byzantine?: number
  slowPeer?: number
  down?: number[]
  announceTo?: number[]
  agent?: { port: number; publicUrl: string }
}): Promise<QuorumRun> {
  const tmp = tempDir()
  const anvil = await startAnvil({ blockTime: 1 })
  const market = await setUpLocalMarket({
    rpcUrl: anvil.rpcUrl,
    dir: tmp.dir,
    slotSeconds: SLOT,
    feeBps: 100,
    graceSeconds: 1,
    relayers: o.relayers,
    threshold: o.threshold,
    logLevel: 'warn',
    ...(o.byzantine !== undefined ? { byzantine: o.byzantine } : {}),
    ...(o.slowPeer !== undefined ? { slowPeer: o.slowPeer } : {}),
    ...(o.announceTo ? { announceTo: o.announceTo } : {}),
    ...(o.agent ? { agent: o.agent } : {}),
  })
  const processes = market.relayers.map((r, i) =>
    o.down?.includes(i) ? undefined : launchRelayer(r, join(tmp.dir, `${r.id}.log`)),
  )
  const agent = launchQantara(['agent', '--config', market.agentYaml], join(tmp.dir, 'agent.log'))
  processes.push(agent)
  for (const [i, r] of market.relayers.entries()) {
    if (!o.down?.includes(i))
      await waitFor(
        async () => (await providerListed(r.url, market.provider.publicKey)) || undefined,
        `${r.id} to list the provider`,
        30_000,
      )
  }
  return {
    anvil,
    market,
    dir: tmp.dir,
    processes,
    orders: [],
    restart: (i: number) => {
      processes[i] = launchRelayer(market.relayers[i]!, join(tmp.dir, `${market.relayers[i]!.id}.log`))
    },
    stop: async () => {
      for (const p of processes) if (p && p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
      await anvil.stop()
      tmp.cleanup()
    },
  }
}

/** Opens `count` USDC orders of `slots` slots starting a few seconds from now. */
export async function openOrders(run: QuorumRun, count: number, slots: number): Promise<OrderTerms[]> {
  const { market } = run
  await market.publicClient.waitForTransactionReceipt({
    hash: await market.renter.writeContract({
      address: market.usdc,
      abi: testTokenAbi,
      functionName: 'approve',
      args: [market.escrow, 10n ** 12n],
    }),
  })
  for (let i = 0; i < count; i++) {
    const start = BigInt(Math.floor(Date.now() / 1000)) + 3n
    const o = await openEvmOrder(market.renter, market.publicClient, {
      escrow: market.escrow,
      token: market.usdc,
      amount: 1_000_000n + BigInt(i) * 3_001n,
      providerId: market.provider.publicKey,
      payout: market.providerPayout,
      start,
      slotLength: SLOT,
      slots,
      gpu: REFERENCE_GPU_WORD,
    })
    run.orders.push({
      id: o.orderId,
      chain: 'eip155:31337',
      renter: o.order.renter,
      token: o.order.token,
      amount: o.order.amount,
      providerId: o.order.providerId,
      payout: o.order.payout,
      start,
      slotLength: SLOT,
      slots,
      gpu: REFERENCE_ORDER_GPU,
    })
  }
  return run.orders
}

/** Waits for every order's OrderSettled and returns them by order id. */
export async function settledOnChain(run: QuorumRun, ms = 120_000) {
  const logs = await waitFor(
    async () => {
      const l = await run.market.publicClient.getContractEvents({
        address: run.market.escrow,
        abi: qantaraEscrowAbi,
        eventName: 'OrderSettled',
        fromBlock: 0n,
        strict: true,
      })
      return run.orders.every((o) => l.some((x) => x.args.orderId === o.id)) ? l : undefined
    },
    'every order to settle on chain',
    ms,
    500,
  )
  const byOrder = new Map<Hex, (typeof logs)[number][]>()
  for (const l of logs) byOrder.set(l.args.orderId, [...(byOrder.get(l.args.orderId) ?? []), l])
  return byOrder
}
