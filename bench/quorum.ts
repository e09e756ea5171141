import { openOrders } from './marketOrders.js'
// With three relayers (threshold 2): time from an order's end to its settlement
// being final on chain, less the grace and gossip windows, beside the
// one-relayer figure measured in the same run; and the bytes each relayer
// reads to gather one order's signatures.
// Run: npm run build && node dist/bench/quorum.js
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startAnvil } from '../devkit/chains/anvil.js'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { canonicalJson } from '../src/canonicalJson.js'
import { launchQantara, providerListed, setUpLocalMarket } from '../devkit/localMarket.js'
import { orderEnd } from '../src/order.js'

const ORDERS = 4
const SLOT = 2
const GRACE = 1

async function measure(
  relayers: number,
  threshold: number,
): Promise<{ finalMs: number[]; sigBytes: number; windowS: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'qantara-quorum-'))
  const anvil = await startAnvil({ blockTime: 1 })
  const children = []
  try {
    const m = await setUpLocalMarket({
      rpcUrl: anvil.rpcUrl,
      dir,
      slotSeconds: SLOT,
      feeBps: 100,
      graceSeconds: GRACE,
      relayers,
      threshold,
      logLevel: 'warn',
    })
    for (const r of m.relayers)
      children.push(launchQantara(['relay', '--config', r.yaml], join(dir, `${r.id}.log`)))
    children.push(launchQantara(['agent', '--config', m.agentYaml], join(dir, 'agent.log')))
    for (const r of m.relayers)
      while (!(await providerListed(r.url, m.provider.publicKey)))
        await new Promise((x) => setTimeout(x, 200))
    const opened = await openOrders(m, ORDERS, SLOT)
    const finalAt = new Map<string, number>()
    while (finalAt.size < ORDERS) {
      const logs = await m.publicClient.getContractEvents({
        address: m.escrow,
        abi: qantaraEscrowAbi,
        eventName: 'OrderSettled',
        fromBlock: 0n,
        strict: true,
      })
      for (const l of logs)
        if (!finalAt.has(l.args.orderId)) {
          const block = await m.publicClient.getBlock({ blockNumber: l.blockNumber })
          finalAt.set(l.args.orderId, Number(block.timestamp) * 1000 + 999)
        }
      await new Promise((x) => setTimeout(x, 250))
    }
    const windowS = relayers > 1 ? Math.max(2, SLOT) : 0
    const finalMs = opened.map(
      (o) => finalAt.get(o.orderId)! - Number(orderEnd(o.order) + BigInt(GRACE + windowS)) * 1000,
    )
    // What one relayer reads per order to gather signatures: every peer's sealed signature response.
    let sigBytes = 0
    if (relayers > 1)
      for (const r of m.relayers.slice(1)) {
        const res = await fetch(`${r.url}/v1/peer/signatures/${opened[0]!.orderId}`)
        if (res.ok) sigBytes += Buffer.byteLength(canonicalJson(await res.json()))
      }
    return { finalMs, sigBytes, windowS }
  } finally {
    for (const c of children) c.kill('SIGTERM')
    await Promise.all(children.map((c) => new Promise((ok) => c.once('exit', ok))))
    await anvil.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const one = await measure(1, 1)
const three = await measure(3, 2)
console.log('| measure | median | max | baseline (same run) |\n|---|---:|---:|---|')
console.log(
  `| order end → settlement final, 3 relayers / threshold 2 (grace and ${three.windowS}s gossip window excluded) | ${median(three.finalMs)} ms | ${Math.max(...three.finalMs)} ms | 1 relayer: median ${median(one.finalMs)} ms |`,
)
console.log(
  `| signature-gathering traffic per order, per relayer | ${three.sigBytes} bytes | | 2 sealed peer signature responses |`,
)
console.log(
  "\nblock timestamps are whole seconds, so final times carry up to 1 s of rounding (counted at the end of the block's second)",
)
