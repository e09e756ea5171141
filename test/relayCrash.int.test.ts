import { REFERENCE_GPU_WORD, REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { parseEventLogs, type Hex } from 'viem'
import { startAnvil, type Anvil } from '../devkit/chains/anvil.js'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { testTokenAbi } from '../adapters/evm/contracts/artifacts/TestToken.js'
import { openEvmOrder } from '../adapters/evm/openOrder.js'
import { launchQantara, providerListed, setUpLocalMarket, type LocalMarket } from '../devkit/localMarket.js'
import { computeSettlement } from '../src/computeSettlement.js'
import type { OrderTerms } from '../src/order.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { tempDir } from './support/tmp.js'
import { waitFor } from '../devkit/waitFor.js'

const SLOT = 2
const ORDERS = 20
const KILLS = 12
const tmp = tempDir()
let anvil: Anvil
let market: LocalMarket
let relayer: ChildProcess | undefined
let agent: ChildProcess | undefined

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
  for (const c of [relayer, agent]) if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  await anvil?.stop()
  tmp.cleanup()
})

const startRelayer = () =>
  (relayer = launchQantara(['relay', '--config', market.relayers[0]!.yaml], join(tmp.dir, 'relayer.log')))
const exited = (c: ChildProcess) =>
  new Promise((ok) => (c.exitCode !== null || c.signalCode !== null ? ok(undefined) : c.once('exit', ok)))

describe('relayer crash safety', () => {
  it(`settles ${ORDERS} orders exactly once while the relayer is SIGKILLed ${KILLS} times`, async () => {
    startRelayer()
    agent = launchQantara(['agent', '--config', market.agentYaml], join(tmp.dir, 'agent.log'))
    await waitFor(
      async () => (await providerListed(market.relayers[0]!.url, market.provider.publicKey)) || undefined,
      'the provider to register',
      30_000,
    )

    // Kill at random moments while orders open, run and settle, restarting each time.
    const killer = (async () => {
      for (let k = 0; k < KILLS; k++) {
        await new Promise((r) => setTimeout(r, 1_000 + Math.floor(Math.random() * 2_500)))
        relayer!.kill('SIGKILL')
        await exited(relayer!)
        startRelayer()
      }
    })()

    await market.renter
      .writeContract({
        address: market.usdc,
        abi: testTokenAbi,
        functionName: 'approve',
        args: [market.escrow, 10n ** 12n],
      })
      .then((hash) => market.publicClient.waitForTransactionReceipt({ hash }))
    const orders: { id: Hex; terms: OrderTerms }[] = []
    for (let i = 0; i < ORDERS; i++) {
      const start = BigInt(Math.floor(Date.now() / 1000)) + 3n
      const o = await openEvmOrder(market.renter, market.publicClient, {
        escrow: market.escrow,
        token: market.usdc,
        amount: 1_000_000n + BigInt(i) * 7_919n,
        providerId: market.provider.publicKey,
        payout: market.providerPayout,
        start,
        slotLength: SLOT,
        slots: 3,
        gpu: REFERENCE_GPU_WORD,
      })
      orders.push({
        id: o.orderId,
        terms: {
          id: o.orderId,
          chain: 'eip155:31337',
          renter: o.order.renter,
          token: o.order.token,
          amount: o.order.amount,
          providerId: o.order.providerId,
          payout: o.order.payout,
          start,
          slotLength: SLOT,
          slots: 3,
          gpu: REFERENCE_ORDER_GPU,
        },
      })
    }

    await killer

    const settledLogs = await waitFor(
      async () => {
        const logs = await market.publicClient.getContractEvents({
          address: market.escrow,
          abi: qantaraEscrowAbi,
          eventName: 'OrderSettled',
          fromBlock: 0n,
          strict: true,
        })
        return logs.length >= ORDERS ? logs : undefined
      },
      'every order to settle on chain',
      120_000,
      500,
    )
    relayer!.kill('SIGTERM')
    await exited(relayer!)

    const byOrder = new Map<string, typeof settledLogs>()
    for (const l of settledLogs) byOrder.set(l.args.orderId, [...(byOrder.get(l.args.orderId) ?? []), l])
    const store = new SqliteStore(market.relayers[0]!.store)
    try {
      for (const { id, terms } of orders) {
        const logs = byOrder.get(id) ?? []
        expect(logs).toHaveLength(1)
        const heartbeats = await store.listHeartbeatKeys(id)
        const { settlement } = computeSettlement(terms, heartbeats, {
          threshold: 1,
          feeBps: 100,
          feeRecipient: market.feeRecipient,
          // Every slot of a three-slot order is one of its closing checks, as the relayer's schedule says.
          scheduled: () => true,
        })
        const a = logs[0]!.args
        expect({
          toProvider: a.toProvider,
          toRenter: a.toRenter,
          fee: a.fee,
          upSlots: a.upSlots,
          heartbeatRoot: a.heartbeatRoot,
        }).toEqual({
          toProvider: settlement.toProvider,
          toRenter: settlement.toRenter,
          fee: settlement.fee,
          upSlots: settlement.upSlots,
          heartbeatRoot: settlement.heartbeatRoot,
        })
      }
    } finally {
      await store.close()
    }
    // One settle transaction per order: no crash made the relayer send a second one.
    expect(
      await market.publicClient.getTransactionCount({ address: market.relayers[0]!.account.address }),
    ).toBe(ORDERS)
    const receipts = await Promise.all(
      settledLogs.map((l) => market.publicClient.getTransactionReceipt({ hash: l.transactionHash })),
    )
    expect(
      receipts.every(
        (r) =>
          r.status === 'success' &&
          parseEventLogs({ abi: qantaraEscrowAbi, logs: r.logs, eventName: 'OrderSettled' }).length >= 1,
      ),
    ).toBe(true)
  }, 240_000)
})
