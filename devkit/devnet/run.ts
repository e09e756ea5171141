import type { ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { toHex, zeroAddress, type Address, type HDAccount, type Hex } from 'viem'
import { startAnvil, type Anvil } from '../chains/anvil.js'
import { qantaraEscrowAbi } from '../../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { openEvmOrder, orderIdFor } from '../../adapters/evm/openOrder.js'
import { btcQuoteFor, signBtcQuote } from '../../adapters/evm/eip712.js'
import type { EvmBtcPayout } from '../../adapters/evm/codec.js'
import { startBtcd, type Btcd } from '../chains/btcd.js'
import { BtcWallet } from '../../adapters/bitcoin/wallet.js'
import { abortableDelay } from '../../src/abort.js'
import { waitFor } from '../waitFor.js'
import { renderTable, type DevnetOrderRow } from './table.js'
import { startDevnetCosmos, type DevnetCosmos } from './cosmos.js'
import { startDevnetSolana, type DevnetSolana } from './solana.js'
import type { DevnetVault } from './vault.js'
import { LOCAL_CHAIN as CHAIN, launchQantara, providerListed, setUpLocalMarket, type LocalMarket } from '../localMarket.js'

export interface DevnetOptions {
  json?: boolean
  slotSeconds: number
  slots: number
  dir: string
  relayers: number
  threshold: number
  /** 1-based index of a relayer to kill mid-run and leave down. */
  killRelayer?: number
  /** 1-based index of a relayer that forges heartbeats and signs inflated settlements. */
  byzantine?: number
  /** Adds btcd in regtest, a solver, and an order whose provider is paid in BTC. */
  btc?: boolean
  /** Adds a Solana vault (litesvm) and an order paid into it. */
  solana?: boolean
  /** Adds a Cosmos vault (simd, built from Go modules on first use) and an order paid into it. */
  cosmos?: boolean
}

interface Plan { label: string; token: 'usdc' | 'native' | 'vault' | 'vault-stray'; vault?: DevnetVault; amount: bigint; startIn: number; outage?: [number, number]; btc?: boolean }

/** The devnet's BTC quote: 1 ETH = 0.05 BTC, i.e. 5,000,000 sats per 10^18 wei. */
const DEVNET_SATS_PER_ETH = 5_000_000n
const BTC_CONFIRMATIONS = 6

/**
 * The whole market on one machine: anvil, the escrow and a test token, one
 * provider agent and one relayer as real child processes, three orders opened
 * through the renter's code path, one of them with a real provider outage.
 */
export async function runDevnet(o: DevnetOptions, out: (line: string) => void, signal: AbortSignal): Promise<DevnetOrderRow[]> {
  const progress = o.json ? (line: string) => process.stderr.write(`${line}\n`) : out
  const dir = resolve(o.dir, new Date().toISOString().replace(/[:.]/g, '-'))
  mkdirSync(dir, { recursive: true })
  const children: ChildProcess[] = []
  let anvil: Anvil | undefined
  let btcd: Btcd | undefined
  let sol: DevnetSolana | undefined
  let cos: DevnetCosmos | undefined
  try {
    anvil = await startAnvil({ blockTime: 1 })
    const rpcUrl = anvil.rpcUrl
    progress(`anvil listening at ${rpcUrl}`)
    if (o.threshold < 1 || o.threshold > o.relayers) throw new Error(`--threshold must be between 1 and --relayers (${o.relayers})`)
    const solverWif = BtcWallet.generateWif('regtest')
    if (o.btc) {
      btcd = await startBtcd({ miningAddress: BtcWallet.fromKeyText(solverWif, 'regtest').address })
      // Segwit activates after three 144-block windows on regtest; the solver's coinbases mature at 100.
      await btcd.rpc.mine(440)
      progress(`btcd (regtest) listening at ${btcd.rpcUrl}, the solver's wallet funded`)
    }
    const genesisHeight = btcd ? await btcd.rpc.getBlockCount() : 0
    const btc = btcd ? { rpcUrl: btcd.rpcUrl, user: btcd.user, password: btcd.password, solverWif, genesisHeader: await btcd.rpc.getBlockHeaderHex(await btcd.rpc.getBlockHash(genesisHeight)), genesisHeight, confirmations: BTC_CONFIRMATIONS } : undefined
    if (o.solana) {
      sol = await startDevnetSolana(o.relayers, o.threshold)
      progress(`Solana (litesvm) at ${sol.local.rpcUrl}: vault ${sol.local.vault} under a ${o.threshold}-of-${o.relayers} SPL Token multisig`)
    }
    if (o.cosmos) {
      cos = await startDevnetCosmos(o.relayers, o.threshold)
      progress(`Cosmos (simd) at ${cos.local.rpcUrl}: vault ${cos.local.vault} under a ${o.threshold}-of-${o.relayers} amino multisig`)
    }
    const market = await setUpLocalMarket({ rpcUrl, dir, slotSeconds: o.slotSeconds, feeBps: 100, graceSeconds: 1, relayers: o.relayers, threshold: o.threshold, ...(o.byzantine ? { byzantine: o.byzantine - 1 } : {}), ...(btc ? { btc } : {}), ...(sol ? { solana: sol.local } : {}), ...(cos ? { cosmos: cos.local } : {}) })
    const { publicClient, renter, escrow, usdc, providerPayout, provider } = market
    // The order table is read from an honest relayer that stays up.
    const honest = market.relayers.findIndex((_, i) => i + 1 !== o.killRelayer && i + 1 !== o.byzantine)
    const relayerUrl = market.relayers[honest]!.url
    progress(`escrow ${escrow}, test USDC ${usdc}`)
    const launch = (name: string, args: string[]) => {
      const child = launchQantara(args, join(dir, `${name}.log`))
      children.push(child)
      return child
    }
    const relayerProcesses = market.relayers.map((r) => launch(r.id, ['relay', '--config', r.yaml]))
    let agent = launch('agent', ['agent', '--config', market.agentYaml])
    if (market.solverYaml) launch('solver', ['solver', 'run', '--config', market.solverYaml])
    for (const r of market.relayers) await waitFor(async () => (await providerListed(r.url, provider.publicKey)) || undefined, `the provider record to reach ${r.id}`, 30_000, 250, signal)
    progress(`${market.relayers.length} relayer(s), threshold ${o.threshold}${o.byzantine ? `, relayer-${o.byzantine} byzantine` : ''}; provider ${provider.publicKey.slice(0, 18)}… registered`)

    const slotsMs = o.slots * o.slotSeconds * 1000
    const plans: Plan[] = [
      { label: 'USDC, full uptime', token: 'usdc', amount: 12_500_000n, startIn: 4 },
      { label: 'ETH, full uptime', token: 'native', amount: 10n ** 16n, startIn: 4 },
      { label: 'USDC, provider down mid-order', token: 'usdc', amount: 8_000_000n, startIn: 6 + Math.ceil(slotsMs / 1000), outage: [2, 4] },
      ...(o.btc ? [{ label: 'ETH, provider paid in BTC', token: 'native' as const, amount: 10n ** 16n, startIn: 8, btc: true }] : []),
      ...(sol ? [
        { label: 'Solana vault, full uptime', token: 'vault' as const, vault: sol, amount: 5_000_000n, startIn: 8 },
        { label: 'Solana transfer without a memo, refunded', token: 'vault-stray' as const, vault: sol, amount: 2_000_000n, startIn: 0 },
      ] : []),
      ...(cos ? [
        { label: 'Cosmos vault, full uptime', token: 'vault' as const, vault: cos, amount: 6_000_000n, startIn: 8 },
        { label: 'Cosmos send without a memo, refunded', token: 'vault-stray' as const, vault: cos, amount: 3_000_000n, startIn: 0 },
      ] : []),
    ]
    const now = BigInt(Math.floor(Date.now() / 1000))
    const orders: { id: Hex; plan: Plan; token: string }[] = []
    for (const plan of plans) {
      const start = now + BigInt(plan.startIn)
      if (plan.vault) {
        const opened = plan.token === 'vault-stray' ? await plan.vault.stray(plan.amount) : await plan.vault.open({ providerId: provider.publicKey, amount: plan.amount, start, slotLength: o.slotSeconds, slots: o.slots })
        orders.push({ id: opened.orderId, plan, token: plan.vault.token })
        progress(`opened ${opened.orderId.slice(0, 10)}… (${plan.label}) in ${opened.txHash.slice(0, 10)}…`)
        continue
      }
      const token = plan.token === 'usdc' ? usdc : zeroAddress
      const salt = toHex(crypto.getRandomValues(new Uint8Array(32)))
      const btcTerms = plan.btc && market.solverQuoter && market.providerBtcScript ? await quote(market.solverQuoter, publicClient, escrow, renter.account.address, salt, market.providerBtcScript, { token, amount: plan.amount, end: start + BigInt(o.slots * o.slotSeconds) }) : undefined
      const opened = await openEvmOrder(renter, publicClient, { escrow, token, amount: plan.amount, providerId: provider.publicKey, payout: providerPayout, start, slotLength: o.slotSeconds, slots: o.slots, salt, ...(btcTerms ? { btc: btcTerms } : {}) })
      orders.push({ id: opened.orderId, plan, token })
      progress(`opened ${opened.orderId.slice(0, 10)}… (${plan.label}) in ${opened.txHash.slice(0, 10)}…`)
    }

    const outage = plans[2]!.outage!
    const outageStart = (Number(now) + plans[2]!.startIn + outage[0] * o.slotSeconds) * 1000
    const outageEnd = (Number(now) + plans[2]!.startIn + outage[1] * o.slotSeconds) * 1000
    let down = false
    const deadline = Date.now() + 150_000
    let rows: DevnetOrderRow[] = []
    for (;;) {
      const t = Date.now()
      if (o.killRelayer && t >= outageStart && relayerProcesses[o.killRelayer - 1]!.exitCode === null && relayerProcesses[o.killRelayer - 1]!.signalCode === null) {
        relayerProcesses[o.killRelayer - 1]!.kill('SIGKILL')
        progress(`relayer-${o.killRelayer} killed; the others carry on`)
      }
      if (!down && t >= outageStart && t < outageEnd) {
        agent.kill('SIGKILL')
        down = true
        progress(`provider agent killed: the third order loses about ${outage[1] - outage[0]} slots`)
      }
      if (down && t >= outageEnd) {
        agent = launch('agent-restarted', ['agent', '--config', market.agentYaml])
        down = false
        progress('provider agent restarted')
      }
      const onChain = await settledOnChain(publicClient, escrow)
      if (btcd) await btcd.rpc.mine(1)
      rows = await Promise.all(orders.map(async (x) => {
        const r = await row(relayerUrl, x.id, x.token)
        const released = await x.plan.vault?.released(x.id)
        return withChainSplit(r, released ? { ...released, upSlots: r.upSlots } : onChain.get(x.id))
      }))
      if (!o.json) progress(rows.map((r) => `${r.orderId.slice(0, 10)}… ${r.status.padEnd(9)} ${r.uptime}`).join('   '))
      if (rows.every((r) => r.status === 'settled')) break
      if (t > deadline) throw new Error(`devnet did not settle within 150 s; logs in ${dir}`)
      await abortableDelay(1_000, signal)
    }
    if (!o.json) out(`\n${renderTable(rows)}\n\nlogs and configs: ${dir}`)
    return rows
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
    await Promise.all(children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((ok) => c.once('exit', ok))))
    await anvil?.stop()
    await btcd?.stop()
    await sol?.stop()
    await cos?.stop()
  }
}

/**
 * The solver's signed quote for an order id the renter is about to open, as `qantara solver quote` gives it:
 * for exactly this order's token, amount and end, good for two minutes, paid out by 300 s after the end.
 */
async function quote(solver: HDAccount, client: LocalMarket['publicClient'], escrow: Address, renter: Address, salt: Hex, script: string, order: { token: Address; amount: bigint; end: bigint }) {
  const orderId = await orderIdFor(client, escrow, renter, salt)
  const now = (await client.getBlock()).timestamp
  const payout: EvmBtcPayout = { script: `0x${script}`, solver: solver.address, satsPerE18: DEVNET_SATS_PER_ETH, payoutDeadline: order.end + 300n, maxAmount: order.amount, openBy: now + 120n, latestEnd: order.end }
  const quoteSignature = await signBtcQuote(solver, { chainId: client.chain!.id, escrow }, btcQuoteFor(orderId, order.token, payout))
  return { payout, quoteSignature }
}

type SettledLog = { toProvider: bigint; toRenter: bigint; fee: bigint; upSlots: number; txHash: string }

/** What the escrow actually paid, per order: the table shows the chain's split, not any relayer's claim. */
async function settledOnChain(client: LocalMarket['publicClient'], escrow: Address): Promise<Map<Hex, SettledLog>> {
  const logs = await client.getContractEvents({ address: escrow, abi: qantaraEscrowAbi, eventName: 'OrderSettled', fromBlock: 0n, strict: true })
  return new Map(logs.map((l) => [l.args.orderId, { toProvider: l.args.toProvider, toRenter: l.args.toRenter, fee: l.args.fee, upSlots: l.args.upSlots, txHash: l.transactionHash }]))
}

function withChainSplit(r: DevnetOrderRow, settled: SettledLog | undefined): DevnetOrderRow {
  if (!settled) return r.status === 'settled' ? { ...r, status: 'settling' } : r
  // A BTC order is settled once its payout is proved, which the relayer reports.
  return { ...r, status: r.btcTxid !== undefined && r.status !== 'settled' ? 'payout-pending' : 'settled', upSlots: settled.upSlots, toProvider: settled.toProvider.toString(), toRenter: settled.toRenter.toString(), fee: settled.fee.toString(), txHash: settled.txHash }
}

async function row(relayerUrl: string, orderId: Hex, token: string): Promise<DevnetOrderRow> {
  const res = await fetch(`${relayerUrl}/v1/orders/${orderId}`).catch(() => undefined)
  const r = res?.ok ? ((await res.json()) as { state: string; uptime: string; terms: { chain: string; amount: string; slots: number; btc?: unknown }; settlement?: { upSlots: number; totalSlots: number; toProvider: string; toRenter: string; fee: string }; reason?: string; txHash?: string; btcTxid?: string; btcSats?: string }) : undefined
  return {
    orderId, chain: r?.terms.chain ?? CHAIN, token: token === zeroAddress ? 'native' : token, status: r?.state ?? 'unseen',
    upSlots: r?.settlement?.upSlots ?? 0, totalSlots: r?.terms.slots ?? 0, amount: r?.terms.amount ?? '0',
    toProvider: r?.settlement?.toProvider ?? '', toRenter: r?.settlement?.toRenter ?? '', fee: r?.settlement?.fee ?? '', reason: r?.reason ?? '', txHash: r?.txHash ?? '', uptime: r?.uptime ?? '',
    ...(r?.terms.btc ? { btcTxid: r.state === 'settled' ? (r.btcTxid ?? '') : '', btcAmountSats: r.state === 'settled' ? (r.btcSats ?? '') : '' } : {}),
  }
}

