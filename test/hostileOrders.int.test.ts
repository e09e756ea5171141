import { REFERENCE_GPU_WORD, REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { startAnvil, type Anvil } from '../devkit/chains/anvil.js'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { testTokenAbi } from '../adapters/evm/contracts/artifacts/TestToken.js'
import { openEvmOrder } from '../adapters/evm/openOrder.js'
import type { ChainEvent } from '../src/chains.js'
import {
  launchQantara,
  LOCAL_CHAIN,
  providerListed,
  setUpLocalMarket,
  type LocalMarket,
} from '../devkit/localMarket.js'
import type { OrderTerms } from '../src/order.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { tempDir } from './support/tmp.js'
import { waitFor } from '../devkit/waitFor.js'

const SLOT = 2
const tmp = tempDir()
let anvil: Anvil
let market: LocalMarket
const children: ChildProcess[] = []

beforeAll(async () => {
  anvil = await startAnvil({ blockTime: 1 })
  market = await setUpLocalMarket({
    rpcUrl: anvil.rpcUrl,
    dir: tmp.dir,
    slotSeconds: SLOT,
    feeBps: 100,
    graceSeconds: 1,
    logLevel: 'warn',
  })
})
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  await anvil?.stop()
  tmp.cleanup()
})

const id = (n: number) => `0x${n.toString(16).padStart(64, 'a')}` as const

describe('orders an attacker sizes to crash the relayer', () => {
  it('a relayer with a 512 MiB heap, fed 1-wei orders of ~1.8e9 one-second slots by a lying RPC and by an old store, stays up and settles the honest order', async () => {
    const nowS = BigInt(Math.floor(Date.now() / 1000))
    // The review's crash order: from 1970, one-second slots, ending in seconds.
    const crash = (n: number): OrderTerms => ({
      id: id(n),
      chain: LOCAL_CHAIN,
      renter: market.renter.account.address,
      token: 'native',
      amount: 1n,
      providerId: market.provider.publicKey,
      payout: market.providerPayout,
      start: 0n,
      slotLength: 1,
      slots: Number(nowS) + 5,
      gpu: REFERENCE_ORDER_GPU,
    })
    const store = new SqliteStore(market.relayers[0]!.store)
    // What a watcher would release if its RPC (or an older escrow) served the order: the event path.
    const genesis = { height: 0n, hash: (await market.publicClient.getBlock({ blockNumber: 0n })).hash }
    const lie: ChainEvent = {
      kind: 'OrderOpened',
      chain: LOCAL_CHAIN,
      key: `OrderOpened:${id(1)}`,
      block: genesis,
      txHash: `0x${'22'.repeat(32)}`,
      order: crash(1),
    }
    await store.commitEvents(LOCAL_CHAIN, [lie], genesis)
    // An order already stored before the bounds existed: the tick path.
    await store.insertOrder(crash(2), Date.now())
    await store.close()

    const heap = process.env.NODE_OPTIONS
    process.env.NODE_OPTIONS = `${heap ?? ''} --max-old-space-size=512`.trim()
    const relayer = launchQantara(
      ['relay', '--config', market.relayers[0]!.yaml],
      join(tmp.dir, 'relayer.log'),
    )
    process.env.NODE_OPTIONS = heap
    if (heap === undefined) delete process.env.NODE_OPTIONS
    children.push(relayer, launchQantara(['agent', '--config', market.agentYaml], join(tmp.dir, 'agent.log')))
    const url = market.relayers[0]!.url
    await waitFor(
      async () => (await providerListed(url, market.provider.publicKey)) || undefined,
      'the provider to register',
      30_000,
    )

    // Anyone may ask for the stored crash order: the answer is bounded, whatever its slot count.
    const legacy = await fetch(`${url}/v1/orders/${id(2)}`)
    expect(legacy.status).toBe(200)
    expect(((await legacy.json()) as { uptime?: string }).uptime).toBeUndefined()
    expect((await fetch(`${url}/v1/orders/${id(1)}`)).status).toBe(404)

    await market.renter
      .writeContract({
        address: market.usdc,
        abi: testTokenAbi,
        functionName: 'approve',
        args: [market.escrow, 10n ** 12n],
      })
      .then((hash) => market.publicClient.waitForTransactionReceipt({ hash }))
    const honest = await openEvmOrder(market.renter, market.publicClient, {
      escrow: market.escrow,
      token: market.usdc,
      amount: 3_000_000n,
      providerId: market.provider.publicKey,
      payout: market.providerPayout,
      start: BigInt(Math.floor(Date.now() / 1000)) + 2n,
      slotLength: SLOT,
      slots: 3,
      gpu: REFERENCE_GPU_WORD,
    })
    const settled = await waitFor(
      async () => {
        const logs = await market.publicClient.getContractEvents({
          address: market.escrow,
          abi: qantaraEscrowAbi,
          eventName: 'OrderSettled',
          fromBlock: 0n,
          strict: true,
        })
        return logs.find((l) => l.args.orderId === honest.orderId)
      },
      'the honest order to settle',
      60_000,
      500,
    )
    expect(settled.args.upSlots).toBe(3)
    expect(settled.args.toProvider + settled.args.toRenter + settled.args.fee).toBe(3_000_000n)

    expect(relayer.exitCode).toBeNull()
    const metrics = await (await fetch(`${market.relayers[0]!.metricsUrl}/metrics`)).text()
    expect(metrics).toMatch(/qantara_orders_refused_total\{chain="eip155:31337",reason="TOO_MANY_SLOTS"\} 1/)
    expect(metrics).toMatch(/qantara_order_failures_total\{step="advance"\} [1-9]/)
    const check = new SqliteStore(market.relayers[0]!.store)
    try {
      expect(await check.getOrder(id(1))).toBeUndefined()
      await waitFor(
        async () => ((await check.getOrder(honest.orderId))?.state === 'settled' ? true : undefined),
        'the relayer to record the settlement',
        20_000,
        200,
      )
    } finally {
      await check.close()
    }
  }, 120_000)
})
