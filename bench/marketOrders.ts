// Real orders on a local market's escrow, for the benchmarks that time their settlement.
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { testTokenAbi } from '../adapters/evm/contracts/artifacts/TestToken.js'
import { openEvmOrder } from '../adapters/evm/openOrder.js'
import { REFERENCE_GPU_WORD } from '../devkit/gpu/referenceGpu.js'
import { LOCAL_CHAIN, type LocalMarket } from '../devkit/localMarket.js'
import { orderEnd } from '../src/order.js'
import type { Store } from '../src/store/store.js'

export type OpenedOrder = Awaited<ReturnType<typeof openEvmOrder>>

/** Opens `count` two-slot orders of the market's provider, starting in 3 s, after approving the escrow. */
export async function openOrders(m: LocalMarket, count: number, slotLength: number): Promise<OpenedOrder[]> {
  await m.publicClient.waitForTransactionReceipt({
    hash: await m.renter.writeContract({
      address: m.usdc,
      abi: testTokenAbi,
      functionName: 'approve',
      args: [m.escrow, 10n ** 12n],
    }),
  })
  const opened: OpenedOrder[] = []
  for (let i = 0; i < count; i++)
    opened.push(
      await openEvmOrder(m.renter, m.publicClient, {
        escrow: m.escrow,
        token: m.usdc,
        amount: 1_000_000n,
        providerId: m.provider.publicKey,
        payout: m.providerPayout,
        start: BigInt(Math.floor(Date.now() / 1000)) + 3n,
        slotLength,
        slots: 2,
        gpu: REFERENCE_GPU_WORD,
      }),
    )
  return opened
}

/** Resolves once the escrow has emitted `count` OrderSettled events. */
export async function settled(m: LocalMarket, count: number): Promise<void> {
  for (;;) {
    const logs = await m.publicClient.getContractEvents({
      address: m.escrow,
      abi: qantaraEscrowAbi,
      eventName: 'OrderSettled',
      fromBlock: 0n,
    })
    if (logs.length >= count) return
    await new Promise((r) => setTimeout(r, 500))
  }
}

/** Per order, ms from its inputs being final (end + grace) to the first broadcast of its settlement, from `store`. */
export async function broadcastDelays(
  store: Store,
  opened: readonly OpenedOrder[],
  graceSeconds: number,
): Promise<number[]> {
  const delays: number[] = []
  for (const o of opened) {
    const sub = await store.getSubmission(LOCAL_CHAIN, `settle:${o.orderId}`)
    const first = (sub?.payload as { attempts: { sentAt: number }[] }).attempts[0]!
    delays.push(first.sentAt - Number(orderEnd(o.order) + BigInt(graceSeconds)) * 1000)
  }
  return delays
}
