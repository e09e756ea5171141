import { writeFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import type { Hex } from 'viem'
import { qantaraEscrowAbi } from '../../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { testTokenAbi } from '../../adapters/evm/contracts/artifacts/TestToken.js'
import { openEvmOrder } from '../../adapters/evm/openOrder.js'
import { computeSettlement } from '../../src/computeSettlement.js'
import type { OrderTerms } from '../../src/order.js'
import { PostgresStore } from '../../src/store/postgres.js'
import { startAnvil } from '../chains/anvil.js'
import { startPostgres } from '../chains/postgres.js'
import { startRpcProxy, type RpcProxy } from '../faults/rpcProxy.js'
import { freePorts } from '../freePort.js'
import { REFERENCE_GPU_WORD, REFERENCE_ORDER_GPU } from '../gpu/referenceGpu.js'
import { launchQantara, providerListed, setUpLocalMarket } from '../localMarket.js'
import { waitFor } from '../waitFor.js'
import { exited, supervise, type Supervised } from './processes.js'

/** The workers' config: the identity key and no chain key, as on a host that never writes to a chain. */
function writeWorkerConfig(dir: string, config: Record<string, unknown>): string {
  const chains = (config.chains as Record<string, unknown>[]).map((c) => ({
    ...c,
    key: { file: join(dir, 'not-on-this-host.key') },
  }))
  const path = join(dir, 'worker-pg.yaml')
  writeFileSync(path, stringify({ ...config, chains }))
  return path
}

function workerUp(metricsPort: number): Promise<unknown> {
  return waitFor(
    async () =>
      (await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined))?.ok || undefined,
    `the probe worker's metrics on port ${metricsPort}`,
    30_000,
  )
}

export interface SoakOptions {
  dir: string
  orders: number
  kills: number
  slotSeconds?: number
  slots?: number
  /** Between kills, at random: this much and up to twice it. */
  killEveryMs?: number
  log?: (line: string) => void
  /** The relayer reads and writes anvil only through two faulty RPC proxies (devkit/faults/rpcProxy.ts). */
  rpcFaults?: boolean
}

const LEASE_TTL_MS = 3_000
/** What each kill does, in turn. */
const KILL_ORDER = ['leader', 'worker', 'postgres', 'frozen'] as const

/** Faults of the soak's two RPC endpoints: one also claims another chain now and then (and is dropped for it). */
const FAULTS = {
  hang: 0.01,
  'http-5xx': 0.04,
  garbage: 0.04,
  truncated: 0.04,
  'lagging-head': 0.1,
  'backwards-head': 0.05,
} as const

export interface SoakReport {
  orders: number
  /** SIGKILLs of the leader, a worker and PostgreSQL; leaders SIGSTOPped past their lease and let go on. */
  kills: { leader: number; worker: number; postgres: number; frozen: number }
  /** Leaders that found their lease gone and exited on their own. */
  deposed: number
  /** Orders settled on chain, and how many settle transactions each had. */
  settled: number
  settleTxs: number
  /** Slots paid, of all the orders' slots: the provider ran throughout, so only kills can cost any. */
  upSlots: number
  totalSlots: number
  /** Transactions the relayer's key sent in all: one per order, or a deposed leader wrote. */
  relayerTxs: number
  /** Faults the RPC proxies injected, by kind (empty without rpcFaults). */
  rpcFaults: Record<string, number>
  /** What broke an invariant; empty when none. */
  failures: string[]
  seconds: number
}

/**
 * One relayer identity as four processes on one PostgreSQL (two leader
 * candidates, one of them probing too, and two probe workers) settling orders on anvil while the
 * leader, a worker or PostgreSQL itself is SIGKILLed at random moments and
 * brought back, or the leader is frozen past its lease. Checked from the chain and the store: every order settled
 * exactly once with the split the settlement function gives over the
 * stored heartbeats, and exactly one transaction per order from the key.
 */
export async function scaleOutSoak(o: SoakOptions): Promise<SoakReport> {
  const t0 = Date.now()
  const say = o.log ?? (() => undefined)
  const slot = o.slotSeconds ?? 2
  const slots = o.slots ?? 3
  const anvil = await startAnvil({ blockTime: 1 })
  const pg = await startPostgres()
  const stop = new AbortController()
  const procs: (Supervised & { stopped: Promise<void> })[] = []
  let agent: ReturnType<typeof launchQantara> | undefined
  const kills = { leader: 0, worker: 0, postgres: 0, frozen: 0 }
  const proxies: RpcProxy[] = []
  try {
    const market = await setUpLocalMarket({
      rpcUrl: anvil.rpcUrl,
      dir: o.dir,
      slotSeconds: slot,
      feeBps: 100,
      graceSeconds: 1,
      logLevel: 'warn',
    })
    const url = await pg.database('relayer')
    const r = market.relayers[0]!
    const config = parse(readFileSync(r.yaml, 'utf8')) as Record<string, unknown>
    config.store = { postgres: { url, leaseTtlMs: LEASE_TTL_MS } }
    if (o.rpcFaults) {
      const guaranteed = Object.keys(FAULTS) as (keyof typeof FAULTS)[]
      proxies.push(
        await startRpcProxy(anvil.rpcUrl, { faults: { ...FAULTS, 'wrong-chain': 0.002 }, guaranteed }),
      )
      proxies.push(await startRpcProxy(anvil.rpcUrl, { faults: FAULTS, guaranteed }))
      const [chain] = config.chains as Record<string, unknown>[]
      Object.assign(chain!, { rpc: proxies.map((p) => p.url), rpcTimeoutMs: 1_000 })
    }
    const yaml = join(o.dir, 'relayer-pg.yaml')
    writeFileSync(yaml, stringify(config))
    const workerYaml = writeWorkerConfig(o.dir, config)
    const [api2, m2, m3, m4] = await freePorts(4)
    const relay = (role: string) => [
      'relay',
      '--config',
      role === 'worker' ? workerYaml : yaml,
      '--role',
      role,
    ]
    procs.push(supervise('leader-a', relay('leader'), o.dir, {}, stop.signal))
    procs.push(
      supervise(
        'leader-b',
        // The default role: it leads or stands by, and probes as well.
        relay('all'),
        o.dir,
        { QANTARA__API__LISTEN: `127.0.0.1:${api2}`, QANTARA__API__METRICSLISTEN: `127.0.0.1:${m2}` },
        stop.signal,
      ),
    )
    for (const [name, port] of [
      ['worker-1', m3],
      ['worker-2', m4],
    ] as const)
      procs.push(
        supervise(
          name,
          relay('worker'),
          o.dir,
          { QANTARA__API__METRICSLISTEN: `127.0.0.1:${port}` },
          stop.signal,
        ),
      )
    agent = launchQantara(['agent', '--config', market.agentYaml], join(o.dir, 'agent.log'))
    await waitFor(
      async () => (await providerListed(r.url, market.provider.publicKey)) || undefined,
      'the provider',
      60_000,
    )
    // A worker that could not start (its config refused) would leave the probing to leader-b unseen.
    for (const port of [m3!, m4!]) await workerUp(port)
    say('four relayer processes and the agent are up; opening orders and killing')

    const leaderNow = async (): Promise<Supervised | undefined> => {
      const store = await PostgresStore.open({ url }).catch(() => undefined)
      if (!store) return undefined
      try {
        const lease = await store.leaseHolder(`leader:${r.id}`).catch(() => undefined)
        return procs.find((p) => lease?.holder.includes(`:${p.current().pid}:`))
      } finally {
        await store.close()
      }
    }
    const killer = (async () => {
      const every = o.killEveryMs ?? 2_000
      for (let k = 0; k < o.kills; k++) {
        await new Promise((res) => setTimeout(res, every + Math.floor(Math.random() * every)))
        const kind = KILL_ORDER[k % KILL_ORDER.length]!
        if (kind === 'postgres') {
          pg.process().kill('SIGKILL')
          await exited(pg.process())
          await new Promise((res) => setTimeout(res, 500))
          await pg.start()
        } else {
          const target = kind === 'worker' ? procs[2 + (k % 2)] : await leaderNow()
          if (!target) continue
          const child = target.current()
          if (kind === 'frozen') {
            // Frozen past its lease (a GC pause, a stalled VM): a standby leads meanwhile, and once it runs again its
            // writes are fenced and it stops itself, exiting 75.
            child.kill('SIGSTOP')
            await new Promise((res) => setTimeout(res, LEASE_TTL_MS * 1.5))
            child.kill('SIGCONT')
          } else {
            child.kill('SIGKILL')
            await exited(child)
          }
        }
        kills[kind]++
        say(`kill ${k + 1}/${o.kills}: ${kind}`)
      }
    })()

    await market.renter
      .writeContract({
        address: market.usdc,
        abi: testTokenAbi,
        functionName: 'approve',
        args: [market.escrow, 10n ** 15n],
      })
      .then((hash) => market.publicClient.waitForTransactionReceipt({ hash }))
    const orders: { id: Hex; terms: OrderTerms }[] = []
    const orderSpan = Math.max(1, Math.ceil((o.kills * (o.killEveryMs ?? 2_000) * 1.5) / o.orders))
    for (let i = 0; i < o.orders; i++) {
      const start = BigInt(Math.floor(Date.now() / 1000)) + 3n
      const opened = await openEvmOrder(market.renter, market.publicClient, {
        escrow: market.escrow,
        token: market.usdc,
        amount: 1_000_000n + BigInt(i) * 7_919n,
        providerId: market.provider.publicKey,
        payout: market.providerPayout,
        start,
        slotLength: slot,
        slots,
        gpu: REFERENCE_GPU_WORD,
      })
      const { order } = opened
      orders.push({
        id: opened.orderId,
        terms: {
          ...order,
          id: opened.orderId,
          chain: 'eip155:31337',
          start,
          slotLength: slot,
          slots,
          gpu: REFERENCE_ORDER_GPU,
        },
      })
      // Spread the orders over the kills.
      await new Promise((res) => setTimeout(res, orderSpan))
    }
    await killer
    const logs = await waitFor(
      async () => {
        const all = await market.publicClient.getContractEvents({
          address: market.escrow,
          abi: qantaraEscrowAbi,
          eventName: 'OrderSettled',
          fromBlock: 0n,
          strict: true,
        })
        return new Set(all.map((l) => l.args.orderId)).size >= o.orders ? all : undefined
      },
      'every order to settle on chain',
      180_000,
      500,
    )
    const failures: string[] = []
    let upSlots = 0
    const store = await PostgresStore.open({ url })
    try {
      for (const { id, terms } of orders) {
        const mine = logs.filter((l) => l.args.orderId === id)
        if (mine.length !== 1) failures.push(`${id}: settled ${mine.length} times`)
        const { settlement } = computeSettlement(terms, await store.listHeartbeatKeys(id), {
          threshold: 1,
          feeBps: 100,
          feeRecipient: market.feeRecipient,
          scheduled: () => true,
        })
        upSlots += settlement.upSlots
        const a = mine[0]?.args
        if (
          a &&
          (a.toProvider !== settlement.toProvider ||
            a.heartbeatRoot !== settlement.heartbeatRoot ||
            a.fee !== settlement.fee)
        )
          failures.push(
            `${id}: on chain ${a.toProvider}/${a.heartbeatRoot}, from the store ${settlement.toProvider}/${settlement.heartbeatRoot}`,
          )
      }
    } finally {
      await store.close()
    }
    const relayerTxs = await market.publicClient.getTransactionCount({ address: r.account.address })
    if (relayerTxs !== o.orders)
      failures.push(`the relayer key sent ${relayerTxs} transactions for ${o.orders} orders`)
    return {
      orders: o.orders,
      kills,
      deposed: procs.reduce((n, p) => n + p.deposed, 0),
      settled: new Set(logs.map((l) => l.args.orderId)).size,
      settleTxs: logs.length,
      relayerTxs,
      upSlots,
      totalSlots: o.orders * slots,
      rpcFaults: sumFaults(proxies),
      failures,
      seconds: Math.round((Date.now() - t0) / 1000),
    }
  } finally {
    stop.abort()
    await Promise.all(procs.map((p) => p.stopped))
    agent?.kill('SIGKILL')
    await Promise.all(proxies.map((p) => p.close()))
    await pg.stop()
    await anvil.stop()
  }
}

function sumFaults(proxies: RpcProxy[]): Record<string, number> {
  const sum: Record<string, number> = {}
  for (const p of proxies)
    for (const [k, v] of Object.entries(p.stats)) if (k !== 'requests') sum[k] = (sum[k] ?? 0) + (v ?? 0)
  return sum
}
