import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, createWriteStream, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { createPublicClient, createWalletClient, http, type Account, type Address, type Chain, type HDAccount, type PublicClient, type Transport, type WalletClient } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { viemChain } from '../../adapters/evm/chain.js'
import { testTokenAbi } from '../../adapters/evm/contracts/artifacts/TestToken.js'
import { deployEscrow, deployTestToken } from '../../adapters/evm/deploy.js'
import { generateEd25519, type Ed25519Signer } from '../ed25519.js'

/** Anvil's well-known development mnemonic: public test keys, never real funds. */
const MNEMONIC = 'test test test test test test test test test test test junk'
export const LOCAL_CHAIN = 'eip155:31337'
// Under the test runner this module is the .ts source: its CLI is the built one in dist/.
const MAIN = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../../dist/src/cli/main.js' : './main.js', import.meta.url))

export interface LocalMarketOptions {
  rpcUrl: string
  dir: string
  slotSeconds: number
  feeBps: number
  graceSeconds: number
  logLevel?: string
}

export interface LocalMarket {
  publicClient: PublicClient
  renter: WalletClient<Transport, Chain, Account>
  relayerAccount: HDAccount
  escrow: Address
  usdc: Address
  providerPayout: Address
  provider: Ed25519Signer
  relayerUrl: string
  relayerYaml: string
  relayerStore: string
  agentYaml: string
}

export async function freePort(): Promise<number> {
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
 * Deploys the escrow and a test token on a local chain and writes a one-relayer
 * config and a provider-agent config (with fresh keys in 0600 files) to `dir`.
 * Used by `qantara devnet` and by the end-to-end tests, so both run one setup.
 */
export async function setUpLocalMarket(o: LocalMarketOptions): Promise<LocalMarket> {
  const chain = viemChain(LOCAL_CHAIN, [o.rpcUrl])
  const publicClient = createPublicClient({ chain, transport: http(o.rpcUrl), pollingInterval: 200 })
  const account = (i: number) => mnemonicToAccount(MNEMONIC, { addressIndex: i })
  const wallet = (i: number) => createWalletClient({ chain, transport: http(o.rpcUrl), account: account(i) })
  const relayerAccount = account(1)
  const renter = wallet(2)
  const providerPayout = account(3).address
  const deployer = wallet(0)
  const escrow = await deployEscrow(deployer, publicClient, { relayers: [relayerAccount.address], threshold: 1, maxFeeBps: 500, reclaimGrace: 3600n })
  const usdc = await deployTestToken(deployer, publicClient, 'USDC', 6)
  await publicClient.waitForTransactionReceipt({ hash: await renter.writeContract({ address: usdc, abi: testTokenAbi, functionName: 'mint', args: [renter.account.address, 10n ** 13n] }) })

  const identity = generateEd25519()
  const provider = generateEd25519()
  const apiPort = await freePort()
  const agentPort = await freePort()
  const relayerUrl = `http://127.0.0.1:${apiPort}`
  const relayerYaml = join(o.dir, 'relayer.yaml')
  const relayerStore = join(o.dir, 'relayer.sqlite')
  writeFileSync(relayerYaml, stringify({
    relayer: { id: 'local-relayer', identityKey: { file: secretFile(join(o.dir, 'relayer.identity'), identity.seed) } },
    store: { path: relayerStore },
    api: { listen: `127.0.0.1:${apiPort}` },
    log: { level: o.logLevel ?? 'info' },
    quorum: { threshold: 1, members: [{ id: 'local-relayer', identity: identity.signer.publicKey, evm: relayerAccount.address }] },
    settlement: { feeBps: o.feeBps, graceSeconds: o.graceSeconds },
    prober: { timeoutMs: Math.max(500, Math.floor(o.slotSeconds * 300)), allowPrivateEndpoints: true },
    chains: [{
      family: 'evm', id: LOCAL_CHAIN, rpc: [o.rpcUrl], escrow, startBlock: 0, confirmations: 1, pollIntervalMs: 250, logRange: 2000,
      key: { file: secretFile(join(o.dir, 'relayer.evm.key'), `0x${Buffer.from(relayerAccount.getHdKey().privateKey!).toString('hex')}`) },
      feeRecipient: relayerAccount.address,
      submitter: { receiptConfirmations: 1, bumpAfterMs: 10_000, maxFeePerGasWei: '200000000000' },
    }],
  }))
  const agentYaml = join(o.dir, 'agent.yaml')
  writeFileSync(agentYaml, stringify({
    key: { file: secretFile(join(o.dir, 'provider.key'), provider.seed) },
    listen: `127.0.0.1:${agentPort}`,
    publicUrl: `http://127.0.0.1:${agentPort}`,
    payout: { [LOCAL_CHAIN]: providerPayout },
    prices: [{ chain: LOCAL_CHAIN, token: usdc, perSlot: '1000000', slotLength: o.slotSeconds }, { chain: LOCAL_CHAIN, token: 'native', perSlot: '100000000000000', slotLength: o.slotSeconds }],
    relayers: [relayerUrl],
    recordTtlSeconds: 3600,
  }))
  return { publicClient, renter, relayerAccount, escrow, usdc, providerPayout, provider: provider.signer, relayerUrl, relayerYaml, relayerStore, agentYaml }
}

/** Runs `qantara <args>` as a child process, its output appended to `logFile`. */
export function launchQantara(args: string[], logFile: string): ChildProcess {
  const log = createWriteStream(logFile, { flags: 'a' })
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env })
  child.stdout.pipe(log)
  child.stderr.pipe(log)
  return child
}

/** Resolves once the relayer at `relayerUrl` lists `providerId`. */
export async function providerListed(relayerUrl: string, providerId: string): Promise<boolean> {
  const res = await fetch(`${relayerUrl}/v1/providers`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined)
  const body = res?.ok ? ((await res.json()) as { providers: { record: { providerId: string } }[] }) : undefined
  return body?.providers.some((p) => p.record.providerId === providerId) ?? false
}
