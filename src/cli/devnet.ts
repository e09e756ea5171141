import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, createWriteStream, mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { stringify } from 'yaml'
import { createPublicClient, createWalletClient, http, zeroAddress, type Address, type Hex } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { startAnvil, type Anvil } from '../../adapters/evm/anvil.js'
import { viemChain } from '../../adapters/evm/chain.js'
import { testTokenAbi } from '../../adapters/evm/contracts/artifacts/TestToken.js'
import { deployEscrow, deployTestToken } from '../../adapters/evm/deploy.js'
import { openEvmOrder } from '../../adapters/evm/openOrder.js'
import { abortableDelay } from '../abort.js'
import { generateEd25519 } from '../ed25519.js'
import { renderTable, type DevnetOrderRow } from './devnetTable.js'

const MNEMONIC = 'test test test test test test test test test test test junk'
const CHAIN = 'eip155:31337'
const MAIN = fileURLToPath(new URL('./main.js', import.meta.url))

export interface DevnetOptions {
  json?: boolean
  slotSeconds: number
  slots: number
  dir: string
}

interface Plan { label: string; token: 'usdc' | 'native'; amount: bigint; startIn: number; outage?: [number, number] }

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer()
    s.once('error', fail)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => ok(port))
    })
  })
}

function secretFile(path: string, content: string): string {
  writeFileSync(path, `${content}\n`, { mode: 0o600 })
  chmodSync(path, 0o600)
  return path
}

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
  try {
    anvil = await startAnvil({ blockTime: 1 })
    const rpcUrl = anvil.rpcUrl
    progress(`anvil listening at ${rpcUrl}`)
    const chain = viemChain(CHAIN, [rpcUrl])
    const publicClient = createPublicClient({ chain, transport: http(rpcUrl), pollingInterval: 200 })
    const account = (i: number) => mnemonicToAccount(MNEMONIC, { addressIndex: i })
    const wallet = (i: number) => createWalletClient({ chain, transport: http(rpcUrl), account: account(i) })
    const relayerKey = account(1)
    const renter = wallet(2)
    const providerPayout = account(3).address
    const deployer = wallet(0)

    const escrow = await deployEscrow(deployer, publicClient, { relayers: [relayerKey.address], threshold: 1, maxFeeBps: 500, reclaimGrace: 3600n })
    const usdc = await deployTestToken(deployer, publicClient, 'USDC', 6)
    await publicClient.waitForTransactionReceipt({ hash: await renter.writeContract({ address: usdc, abi: testTokenAbi, functionName: 'mint', args: [renter.account.address, 10_000_000_000n] }) })
    progress(`escrow ${escrow}, test USDC ${usdc}`)

    const identity = generateEd25519()
    const provider = generateEd25519()
    const apiPort = await freePort()
    const agentPort = await freePort()
    const relayerUrl = `http://127.0.0.1:${apiPort}`
    const relayerYaml = join(dir, 'relayer.yaml')
    writeFileSync(relayerYaml, stringify({
      relayer: { id: 'devnet-relayer', identityKey: { file: secretFile(join(dir, 'relayer.identity'), identity.seed) } },
      store: { path: join(dir, 'relayer.sqlite') },
      api: { listen: `127.0.0.1:${apiPort}` },
      log: { level: 'info' },
      quorum: { threshold: 1, members: [{ id: 'devnet-relayer', identity: identity.signer.publicKey, evm: relayerKey.address }] },
      settlement: { feeBps: 100, graceSeconds: 1 },
      prober: { timeoutMs: Math.max(500, Math.floor(o.slotSeconds * 300)), allowPrivateEndpoints: true },
      chains: [{
        family: 'evm', id: CHAIN, rpc: [rpcUrl], escrow, startBlock: 0, confirmations: 1, pollIntervalMs: 250, logRange: 2000,
        key: { file: secretFile(join(dir, 'relayer.evm.key'), `0x${Buffer.from(relayerKey.getHdKey().privateKey!).toString('hex')}`) },
        feeRecipient: relayerKey.address,
        submitter: { receiptConfirmations: 1, bumpAfterMs: 10_000, maxFeePerGasWei: '200000000000' },
      }],
    }))
    const agentYaml = join(dir, 'agent.yaml')
    writeFileSync(agentYaml, stringify({
      key: { file: secretFile(join(dir, 'provider.key'), provider.seed) },
      listen: `127.0.0.1:${agentPort}`,
      publicUrl: `http://127.0.0.1:${agentPort}`,
      payout: { [CHAIN]: providerPayout },
      prices: [{ chain: CHAIN, token: usdc, perSlot: '1000000', slotLength: o.slotSeconds }, { chain: CHAIN, token: 'native', perSlot: '100000000000000', slotLength: o.slotSeconds }],
      relayers: [relayerUrl],
      recordTtlSeconds: 3600,
    }))

    const launch = (name: string, args: string[]) => {
      const log = createWriteStream(join(dir, `${name}.log`))
      const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env })
      child.stdout.pipe(log)
      child.stderr.pipe(log)
      children.push(child)
      return child
    }
    launch('relayer', ['relay', '--config', relayerYaml])
    let agent = launch('agent', ['agent', '--config', agentYaml])
    await waitFor(async () => {
      const res = await fetch(`${relayerUrl}/v1/providers`).catch(() => undefined)
      const body = res?.ok ? ((await res.json()) as { providers: { record: { providerId: string } }[] }) : undefined
      return body?.providers.some((p) => p.record.providerId === provider.signer.publicKey) || undefined
    }, 30_000, 'the provider record to reach the relayer', signal)
    progress(`relayer ${relayerUrl}, provider ${provider.signer.publicKey.slice(0, 18)}… registered`)

    const slotsMs = o.slots * o.slotSeconds * 1000
    const plans: Plan[] = [
      { label: 'USDC, full uptime', token: 'usdc', amount: 12_500_000n, startIn: 4 },
      { label: 'ETH, full uptime', token: 'native', amount: 10n ** 16n, startIn: 4 },
      { label: 'USDC, provider down mid-order', token: 'usdc', amount: 8_000_000n, startIn: 6 + Math.ceil(slotsMs / 1000), outage: [2, 4] },
    ]
    const now = BigInt(Math.floor(Date.now() / 1000))
    const orders: { id: Hex; plan: Plan; token: Address }[] = []
    for (const plan of plans) {
      const token = plan.token === 'usdc' ? usdc : zeroAddress
      const opened = await openEvmOrder(renter, publicClient, { escrow, token, amount: plan.amount, providerId: provider.signer.publicKey, payout: providerPayout, start: now + BigInt(plan.startIn), slotLength: o.slotSeconds, slots: o.slots })
      orders.push({ id: opened.orderId, plan, token })
      progress(`opened ${opened.orderId.slice(0, 10)}… (${plan.label}) in ${opened.txHash.slice(0, 10)}…`)
    }

    const outage = plans[2]!.outage!
    const outageStart = (Number(now) + plans[2]!.startIn + outage[0] * o.slotSeconds) * 1000
    const outageEnd = (Number(now) + plans[2]!.startIn + outage[1] * o.slotSeconds) * 1000
    let down = false
    const deadline = Date.now() + 110_000
    let rows: DevnetOrderRow[] = []
    for (;;) {
      const t = Date.now()
      if (!down && t >= outageStart && t < outageEnd) {
        agent.kill('SIGKILL')
        down = true
        progress(`provider agent killed: the third order loses about ${outage[1] - outage[0]} slots`)
      }
      if (down && t >= outageEnd) {
        agent = launch('agent-restarted', ['agent', '--config', agentYaml])
        down = false
        progress('provider agent restarted')
      }
      rows = await Promise.all(orders.map((x) => row(relayerUrl, x.id, x.token)))
      if (!o.json) progress(rows.map((r) => `${r.orderId.slice(0, 10)}… ${r.status.padEnd(9)} ${r.uptime}`).join('   '))
      if (rows.every((r) => r.status === 'settled')) break
      if (t > deadline) throw new Error(`devnet did not settle within 110 s; logs in ${dir}`)
      await abortableDelay(1_000, signal)
    }
    if (!o.json) out(`\n${renderTable(rows)}\n\nlogs and configs: ${dir}`)
    return rows
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
    await Promise.all(children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((ok) => c.once('exit', ok))))
    await anvil?.stop()
  }
}

async function row(relayerUrl: string, orderId: Hex, token: Address): Promise<DevnetOrderRow> {
  const res = await fetch(`${relayerUrl}/v1/orders/${orderId}`).catch(() => undefined)
  const r = res?.ok ? ((await res.json()) as { state: string; uptime: string; terms: { chain: string; amount: string; slots: number }; settlement?: { upSlots: number; totalSlots: number; toProvider: string; toRenter: string; fee: string }; reason?: string; txHash?: string }) : undefined
  return {
    orderId, chain: r?.terms.chain ?? CHAIN, token: token === zeroAddress ? 'native' : token, status: r?.state ?? 'unseen',
    upSlots: r?.settlement?.upSlots ?? 0, totalSlots: r?.terms.slots ?? 0, amount: r?.terms.amount ?? '0',
    toProvider: r?.settlement?.toProvider ?? '', toRenter: r?.settlement?.toRenter ?? '', fee: r?.settlement?.fee ?? '', reason: r?.reason ?? '', txHash: r?.txHash ?? '', uptime: r?.uptime ?? '',
  }
}

async function waitFor<T>(fn: () => Promise<T | undefined>, ms: number, what: string, signal: AbortSignal): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await abortableDelay(250, signal)
  }
}

export function registerDevnet(program: Command, out: (line: string) => void): void {
  program
    .command('devnet')
    .description('run the whole market locally: anvil, escrow, one provider agent, one relayer, three orders')
    .option('--json', 'end with one JSON line {"orders":[…]} on stdout; progress goes to stderr')
    .option('--slot-seconds <n>', 'slot length in seconds', (v) => Number.parseInt(v, 10), 2)
    .option('--slots <n>', 'slots per order', (v) => Number.parseInt(v, 10), 6)
    .option('--dir <path>', 'where configs, keys, stores and logs go', '.devnet')
    .action(async (o: DevnetOptions) => {
      const controller = new AbortController()
      const onSignal = () => controller.abort()
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      const rows = await runDevnet(o, out, controller.signal)
      if (o.json) out(JSON.stringify({ orders: rows.map(({ uptime: _u, ...r }) => r) }))
    })
}
