import { REFERENCE_GPU_WORD } from '../devkit/gpu/referenceGpu.js'
// Settlement broadcast delay: from the moment an order's inputs are final (its
// end plus the grace window) to the first broadcast of its settlement, beside
// a bare eth_sendRawTransaction round trip on the same chain, in one run.
// Run: npm run build && node dist/bench/settlementDelay.js
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createWalletClient, http } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { startAnvil } from '../devkit/chains/anvil.js'
import { viemChain } from '../adapters/evm/chain.js'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { testTokenAbi } from '../adapters/evm/contracts/artifacts/TestToken.js'
import { openEvmOrder } from '../adapters/evm/openOrder.js'
import { launchQantara, providerListed, setUpLocalMarket, LOCAL_CHAIN } from '../devkit/localMarket.js'
import { orderEnd } from '../src/order.js'
import { SqliteStore } from '../src/store/sqlite.js'

const ORDERS = 5
const GRACE = 1
const dir = mkdtempSync(join(tmpdir(), 'qantara-delay-'))
const anvil = await startAnvil({ blockTime: 1 })
try {
  const m = await setUpLocalMarket({
    rpcUrl: anvil.rpcUrl,
    dir,
    slotSeconds: 2,
    feeBps: 100,
    graceSeconds: GRACE,
    logLevel: 'warn',
  })
  const relayer = launchQantara(['relay', '--config', m.relayers[0]!.yaml], join(dir, 'relayer.log'))
  const agent = launchQantara(['agent', '--config', m.agentYaml], join(dir, 'agent.log'))
  while (!(await providerListed(m.relayers[0]!.url, m.provider.publicKey)))
    await new Promise((r) => setTimeout(r, 200))

  // Baseline: a signed transaction's eth_sendRawTransaction round trip, on the same anvil.
  const wallet = createWalletClient({
    chain: viemChain(LOCAL_CHAIN, [anvil.rpcUrl]),
    transport: http(anvil.rpcUrl),
    account: mnemonicToAccount('test test test test test test test test test test test junk', {
      addressIndex: 5,
    }),
  })
  const rawTimes: number[] = []
  for (let i = 0; i < 5; i++) {
    const raw = await wallet.signTransaction(
      await wallet.prepareTransactionRequest({ to: m.providerPayout, value: 1n }),
    )
    const t = performance.now()
    await wallet.sendRawTransaction({ serializedTransaction: raw })
    rawTimes.push(performance.now() - t)
    await new Promise((r) => setTimeout(r, 1_100))
  }

  await m.publicClient.waitForTransactionReceipt({
    hash: await m.renter.writeContract({
      address: m.usdc,
      abi: testTokenAbi,
      functionName: 'approve',
      args: [m.escrow, 10n ** 12n],
    }),
  })
  const opened = []
  for (let i = 0; i < ORDERS; i++) {
    opened.push(
      await openEvmOrder(m.renter, m.publicClient, {
        escrow: m.escrow,
        token: m.usdc,
        amount: 1_000_000n,
        providerId: m.provider.publicKey,
        payout: m.providerPayout,
        start: BigInt(Math.floor(Date.now() / 1000)) + 3n,
        slotLength: 2,
        slots: 2,
        gpu: REFERENCE_GPU_WORD,
      }),
    )
  }
  for (;;) {
    const logs = await m.publicClient.getContractEvents({
      address: m.escrow,
      abi: qantaraEscrowAbi,
      eventName: 'OrderSettled',
      fromBlock: 0n,
    })
    if (logs.length >= ORDERS) break
    await new Promise((r) => setTimeout(r, 500))
  }
  relayer.kill('SIGTERM')
  agent.kill('SIGTERM')
  await Promise.all([relayer, agent].map((c) => new Promise((ok) => c.once('exit', ok))))

  const store = new SqliteStore(m.relayers[0]!.store)
  const delays: number[] = []
  for (const o of opened) {
    const sub = await store.getSubmission(LOCAL_CHAIN, `settle:${o.orderId}`)
    const first = (sub?.payload as { attempts: { sentAt: number }[] }).attempts[0]!
    delays.push(first.sentAt - Number(orderEnd(o.order) + BigInt(GRACE)) * 1000)
  }
  await store.close()
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  console.log('| measure | median | max | baseline (same run) |\n|---|---:|---:|---|')
  console.log(
    `| settlement broadcast after end + grace (${ORDERS} orders) | ${median(delays)} ms | ${Math.max(...delays)} ms | bare eth_sendRawTransaction round trip: median ${median(rawTimes).toFixed(1)} ms |`,
  )
  console.log(`\ngoal <= 1000 ms: ${Math.max(...delays) <= 1000 ? 'met' : 'MISSED'}`)
} finally {
  await anvil.stop()
  rmSync(dir, { recursive: true, force: true })
}
