import { broadcastDelays, openOrders, settled } from './marketOrders.js'
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
import { launchQantara, providerListed, setUpLocalMarket, LOCAL_CHAIN } from '../devkit/localMarket.js'
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

  const opened = await openOrders(m, ORDERS, 2)
  await settled(m, ORDERS)
  relayer.kill('SIGTERM')
  agent.kill('SIGTERM')
  await Promise.all([relayer, agent].map((c) => new Promise((ok) => c.once('exit', ok))))

  const store = new SqliteStore(m.relayers[0]!.store)
  const delays = await broadcastDelays(store, opened, GRACE)
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
