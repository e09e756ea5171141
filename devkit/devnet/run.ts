import type { ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { abortableDelay } from '../../src/abort.js'
import { launchQantara, launchRelayer, providerListed, setUpLocalMarket } from '../localMarket.js'
import { waitFor } from '../waitFor.js'
import { startChains, stopChains, type DevnetChains } from './chains.js'
import type { DevnetOptions } from './options.js'
import { readRows } from './report.js'
import { devnetScenario, openOrders, outageWindow } from './scenario.js'
import { referenceGpu } from '../gpu/referenceGpu.js'
import { renderTable, type DevnetOrderRow } from './table.js'

/** How long the orders have to settle once opened. */
const SETTLE_WITHIN_MS = 150_000

/**
 * The whole market on one machine: anvil, the escrow and a test token, one
 * provider agent and one relayer as real child processes, three orders opened
 * through the renter's code path, one of them with a real provider outage.
 */
export async function runDevnet(
  o: DevnetOptions,
  out: (line: string) => void,
  signal: AbortSignal,
  settled: (rows: DevnetOrderRow[]) => void = () => undefined,
): Promise<DevnetOrderRow[]> {
  if (o.threshold < 1 || o.threshold > o.relayers)
    throw new Error(`--threshold must be between 1 and --relayers (${o.relayers})`)
  const progress = o.json ? (line: string) => process.stderr.write(`${line}\n`) : out
  const dir = resolve(o.dir, new Date().toISOString().replace(/[:.]/g, '-'))
  mkdirSync(dir, { recursive: true })
  const children: ChildProcess[] = []
  const chains: DevnetChains = {}
  const gpuTimers: NodeJS.Timeout[] = []
  try {
    const { rpcUrl, btc } = await startChains(o, chains, progress)
    const { solana: sol, cosmos: cos } = chains
    const market = await setUpLocalMarket({
      rpcUrl,
      dir,
      slotSeconds: o.slotSeconds,
      feeBps: 100,
      graceSeconds: 1,
      relayers: o.relayers,
      threshold: o.threshold,
      ...(o.byzantine ? { byzantine: o.byzantine - 1 } : {}),
      ...(btc ? { btc } : {}),
      ...(sol ? { solana: sol.local } : {}),
      ...(cos ? { cosmos: cos.local } : {}),
      ...(o.webhook ? { webhooks: o.webhook } : {}),
    })
    const { escrow, usdc, provider } = market
    // The order table is read from an honest relayer that stays up.
    const honest = market.relayers.findIndex((_, i) => i + 1 !== o.killRelayer && i + 1 !== o.byzantine)
    const relayerUrl = market.relayers[honest]!.url
    progress(`escrow ${escrow}, test USDC ${usdc}`)
    const started = (child: ChildProcess) => {
      children.push(child)
      return child
    }
    const launch = (name: string, args: string[]) => started(launchQantara(args, join(dir, `${name}.log`)))
    const relayerProcesses = market.relayers.map((r) => started(launchRelayer(r, join(dir, `${r.id}.log`))))
    let agent = launch('agent', ['agent', '--config', market.agentYaml])
    if (market.solverYaml) launch('solver', ['solver', 'run', '--config', market.solverYaml])
    for (const r of market.relayers)
      await waitFor(
        async () => (await providerListed(r.url, provider.publicKey)) || undefined,
        `the provider record to reach ${r.id}`,
        30_000,
        250,
        signal,
      )
    progress(
      `${market.relayers.length} relayer(s), threshold ${o.threshold}${o.byzantine ? `, relayer-${o.byzantine} byzantine` : ''}; provider ${provider.publicKey.slice(0, 18)}… registered`,
    )
    progress(`dashboard: ${relayerUrl}/ui/`)

    const { plans, outage } = devnetScenario(o, chains)
    const now = BigInt(Math.floor(Date.now() / 1000))
    const orders = await openOrders(plans, market, o, now, progress)
    const window = outageWindow(outage, now, o.slotSeconds)
    const killed = o.killRelayer === undefined ? undefined : relayerProcesses[o.killRelayer - 1]
    let down = false
    // nvidia-smi stops listing the GPU for one slot, on the dot: the relayers still hear the agent, and pay nothing for it.
    gpuTimers.push(
      setTimeout(() => {
        market.setGpus?.([])
        progress('provider GPU gone from its telemetry: the third order loses that slot (GPU_MISSING)')
      }, window.gpuLess - Date.now()),
      setTimeout(() => market.setGpus?.([referenceGpu()]), window.start - Date.now()),
    )
    const deadline = Date.now() + SETTLE_WITHIN_MS
    let rows: DevnetOrderRow[] = []
    for (;;) {
      const t = Date.now()
      // The relayer dies as the provider does, and stays down.
      if (killed && t >= window.start && killed.exitCode === null && killed.signalCode === null) {
        killed.kill('SIGKILL')
        progress(`relayer-${o.killRelayer} killed; the others carry on`)
      }
      if (!down && t >= window.start && t < window.end) {
        agent.kill('SIGKILL')
        down = true
        progress(
          `provider agent killed: the third order loses about ${outage.slots[1] - outage.slots[0]} slots`,
        )
      }
      if (down && t >= window.end) {
        agent = launch('agent-restarted', ['agent', '--config', market.agentYaml])
        down = false
        progress('provider agent restarted')
      }
      // Regtest blocks come on demand: one per round confirms the BTC payout.
      if (chains.btcd) await chains.btcd.rpc.mine(1)
      rows = await readRows(relayerUrl, market, orders)
      if (!o.json)
        progress(rows.map((r) => `${r.orderId.slice(0, 10)}… ${r.status.padEnd(9)} ${r.uptime}`).join('   '))
      if (rows.every((r) => r.status === 'settled')) break
      if (t > deadline)
        throw new Error(`devnet did not settle within ${SETTLE_WITHIN_MS / 1000} s; logs in ${dir}`)
      await abortableDelay(1_000, signal)
    }
    if (!o.json) out(`\n${renderTable(rows)}\n\nlogs and configs: ${dir}\ndashboard: ${relayerUrl}/ui/`)
    settled(rows)
    if (o.keep) {
      progress(`the market stays up (--keep): dashboard ${relayerUrl}/ui/; Ctrl-C stops it`)
      await new Promise((resolve) => {
        if (signal.aborted) resolve(undefined)
        else signal.addEventListener('abort', resolve, { once: true })
      })
    }
    return rows
  } finally {
    for (const timer of gpuTimers) clearTimeout(timer)
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
    await Promise.all(
      children
        .filter((c) => c.exitCode === null && c.signalCode === null)
        .map((c) => new Promise((ok) => c.once('exit', ok))),
    )
    await stopChains(chains)
  }
}
