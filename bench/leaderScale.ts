// One leader with 100,000 live orders (issue 16): its RSS, the probes it keeps up with, and the settlement delay of
// five real orders on anvil while it carries them, beside the same five orders on an otherwise idle relayer in the
// same run. The 100,000 orders' providers are real agents, many to a process (devkit/load/agentFleet.ts).
// Run: npm run build && node dist/bench/leaderScale.js [live orders, default 100000]
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { startAnvil } from '../devkit/chains/anvil.js'
import { REFERENCE_GPU_WORD, REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { launchQantara, LOCAL_CHAIN, providerListed, setUpLocalMarket } from '../devkit/localMarket.js'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { testTokenAbi } from '../adapters/evm/contracts/artifacts/TestToken.js'
import { openEvmOrder } from '../adapters/evm/openOrder.js'
import { canonicalJson } from '../src/canonicalJson.js'
import { orderEnd, type OrderTerms } from '../src/order.js'
import type { SignedProviderRecord } from '../src/registry/record.js'
import { SqliteStore } from '../src/store/sqlite.js'

const LIVE = Number(process.argv[2] ?? 100_000)
const PROVIDERS = 200
const ORDERS = 5
const GRACE = 1
const SLOT = 60
const FLEET = fileURLToPath(new URL('../devkit/load/fleetProcess.js', import.meta.url))

interface Phase {
  delays: number[]
  rssMaxMb: number
  rssEndMb: number
  /** Seconds from the leader's start until every live order was active (its first look at each). */
  activatedInS?: number
  /** Background heartbeats kept per second while the five orders ran, against LIVE / SLOT needed. */
  keptPerSecond?: number
}

const rssMb = (pid: number) => {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))
  return Number(line?.match(/\d+/)?.[0] ?? 0) / 1024
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const exited = (c: ChildProcess) => new Promise((ok) => (c.exitCode !== null ? ok(0) : c.once('exit', ok)))

async function phase(live: number): Promise<Phase> {
  const dir = mkdtempSync(join(tmpdir(), 'qantara-scale-'))
  const anvil = await startAnvil({ blockTime: 1 })
  let fleet: ChildProcess | undefined
  try {
    const m = await setUpLocalMarket({
      rpcUrl: anvil.rpcUrl,
      dir,
      slotSeconds: 2,
      feeBps: 100,
      graceSeconds: GRACE,
      logLevel: 'warn',
    })
    const storePath = m.relayers[0]!.store
    if (live > 0) {
      writeFileSync(
        join(dir, 'fleet.json'),
        JSON.stringify({
          providers: PROVIDERS,
          payout: { [LOCAL_CHAIN]: m.providerPayout },
          prices: [
            { chain: LOCAL_CHAIN, token: m.usdc, gpuClass: 'cpu-reference', perSlot: '1', slotLength: SLOT },
          ],
        }),
      )
      fleet = spawn(process.execPath, [FLEET, join(dir, 'fleet.json'), join(dir, 'records.json')], {
        stdio: 'ignore',
      })
      while (!existsSync(join(dir, 'records.json'))) await sleep(100)
      await sleep(100)
      const records = JSON.parse(readFileSync(join(dir, 'records.json'), 'utf8')) as SignedProviderRecord[]
      // The live orders as the leader's watcher would have recorded them, written before it starts.
      const store = new SqliteStore(storePath)
      const now = Date.now()
      for (const r of records)
        await store.putProvider(r.record.providerId, r.record.seq, canonicalJson(r), now)
      const start = BigInt(Math.floor(now / 1000))
      for (let i = 0; i < live; i++) {
        const terms: OrderTerms = {
          id: `0x${'e'.repeat(24)}${i.toString(16).padStart(40, '0')}` as const,
          chain: LOCAL_CHAIN,
          renter: m.renter.account.address,
          token: m.usdc,
          amount: 60n,
          providerId: records[i % records.length]!.record.providerId as `0x${string}`,
          payout: m.providerPayout,
          start,
          slotLength: SLOT,
          slots: 60,
          gpu: REFERENCE_ORDER_GPU,
        }
        await store.insertOrder(terms, now)
      }
      await store.close()
    }
    const started = Date.now()
    const relayer = launchQantara(['relay', '--config', m.relayers[0]!.yaml], join(dir, 'relayer.log'))
    const agent = launchQantara(['agent', '--config', m.agentYaml], join(dir, 'agent.log'))
    let rssMax = 0
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssMb(relayer.pid!))), 500)
    try {
      while (!(await providerListed(m.relayers[0]!.url, m.provider.publicKey))) await sleep(200)
      const reader = new Database(storePath, { readonly: true })
      const count = (sql: string) => (reader.prepare(sql).get() as { n: number }).n
      let activatedInS: number | undefined
      if (live > 0) {
        while (count("SELECT COUNT(*) AS n FROM orders WHERE state = 'active'") < live) await sleep(500)
        activatedInS = (Date.now() - started) / 1000
      }
      const keptBefore = count('SELECT COUNT(*) AS n FROM heartbeats')
      const keptFrom = Date.now()
      await m.publicClient.waitForTransactionReceipt({
        hash: await m.renter.writeContract({
          address: m.usdc,
          abi: testTokenAbi,
          functionName: 'approve',
          args: [m.escrow, 10n ** 12n],
        }),
      })
      const opened = []
      for (let i = 0; i < ORDERS; i++)
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
      for (;;) {
        const logs = await m.publicClient.getContractEvents({
          address: m.escrow,
          abi: qantaraEscrowAbi,
          eventName: 'OrderSettled',
          fromBlock: 0n,
        })
        if (logs.length >= ORDERS) break
        await sleep(500)
      }
      // The five orders' own heartbeats are a handful among these.
      const kept = count('SELECT COUNT(*) AS n FROM heartbeats') - keptBefore
      const keptPerSecond = kept / ((Date.now() - keptFrom) / 1000)
      reader.close()
      const rssEndMb = rssMb(relayer.pid!)
      relayer.kill('SIGTERM')
      agent.kill('SIGTERM')
      await Promise.all([exited(relayer), exited(agent)])
      const store = new SqliteStore(storePath)
      const delays: number[] = []
      for (const o of opened) {
        const sub = await store.getSubmission(LOCAL_CHAIN, `settle:${o.orderId}`)
        const first = (sub?.payload as { attempts: { sentAt: number }[] }).attempts[0]!
        delays.push(first.sentAt - Number(orderEnd(o.order) + BigInt(GRACE)) * 1000)
      }
      await store.close()
      return {
        delays,
        rssMaxMb: rssMax,
        rssEndMb,
        ...(activatedInS !== undefined ? { activatedInS, keptPerSecond } : {}),
      }
    } finally {
      clearInterval(sampler)
      relayer.kill('SIGKILL')
      agent.kill('SIGKILL')
    }
  } finally {
    fleet?.kill('SIGTERM')
    if (fleet) await exited(fleet)
    await anvil.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

const idle = await phase(0)
const loaded = await phase(LIVE)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const mb = (v: number) => `${Math.round(v)} MB`
console.log('| measure | idle relayer (baseline, same run) | leader with live orders |\n|---|---:|---:|')
console.log(`| live orders | 0 | ${LIVE.toLocaleString('en')} |`)
console.log(`| leader RSS, highest seen | ${mb(idle.rssMaxMb)} | ${mb(loaded.rssMaxMb)} |`)
console.log(`| leader RSS at the end | ${mb(idle.rssEndMb)} | ${mb(loaded.rssEndMb)} |`)
console.log(`| from start until every live order is active | | ${loaded.activatedInS?.toFixed(1)} s |`)
console.log(
  `| heartbeats kept per second (needed: ${Math.round(LIVE / SLOT)}/s, one per order per ${SLOT} s slot) | | ${Math.round(loaded.keptPerSecond ?? 0)} |`,
)
console.log(
  `| settlement broadcast after end + grace, median / max of ${ORDERS} | ${median(idle.delays)} / ${Math.max(...idle.delays)} ms | ${median(loaded.delays)} / ${Math.max(...loaded.delays)} ms |`,
)
console.log(`\ngoal RSS <= 300 MB: ${loaded.rssMaxMb <= 300 ? 'met' : 'MISSED'}`)
