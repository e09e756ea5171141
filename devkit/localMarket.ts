import { randomBytes } from 'node:crypto'
import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, createWriteStream, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { freePorts } from './freePort.js'
import {
  createPublicClient,
  createWalletClient,
  http,
  type Account,
  type Address,
  type Chain,
  type HDAccount,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { viemChain } from '../adapters/evm/chain.js'
import { testTokenAbi } from '../adapters/evm/contracts/artifacts/TestToken.js'
import { deployBtcEscrow, deployEscrow, deployTestToken } from '../adapters/evm/deploy.js'
import { BtcWallet } from '../adapters/bitcoin/wallet.js'
import { generateEd25519, type Ed25519Signer } from '../src/ed25519.js'
import { faultyRelayerArgs, type RelayerFaults } from './relayer.js'
import { REFERENCE_ORDER_GPU, referenceGpu, referenceNvidiaSmi } from './gpu/referenceGpu.js'
import type { GpuTelemetry } from '../src/heartbeat/schema.js'
import { WEBHOOK_EVENTS } from '../src/webhooks/events.js'

/** Anvil's well-known development mnemonic: public test keys, never real funds. */
const MNEMONIC = 'test test test test test test test test test test test junk'
export const LOCAL_CHAIN = 'eip155:31337'
// Under the test runner this module is the .ts source: the CLIs it runs are the built ones in dist/.
const built = (path: string) =>
  fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? `../dist/${path}` : `../${path}`, import.meta.url))
/** The product's CLI, `qantara`. */
const MAIN = built('src/app/cli/main.js')
/** The dev kit's CLI: the devnet, and relayers with test faults. */
const DEVKIT = built('devkit/cli.js')

export interface LocalMarketOptions {
  rpcUrl: string
  dir: string
  slotSeconds: number
  feeBps: number
  graceSeconds: number
  /** Relayers in the quorum (default 1) and signatures needed (default 1). */
  relayers?: number
  threshold?: number
  /** Index of a relayer run byzantine (testing only). */
  byzantine?: number
  /** Index of a relayer that answers its peers `slowPeerMs` late (testing only). */
  slowPeer?: number
  slowPeerMs?: number
  /** Indices of the relayers the agent announces itself to (default: all). */
  announceTo?: number[]
  /** The agent's port and the URL it advertises, when something (a proxy in a test) stands in front of it. */
  agent?: { port: number; publicUrl: string }
  logLevel?: string
  /** The GPUs the provider's telemetry lists (default: one CPU reference device); null runs the agent without nvidia-smi. */
  gpus?: GpuTelemetry[] | null
  /** A regtest node to pay providers in BTC from: the escrow gets a BtcLightRelay anchored at `genesisHeader`, relayers a bitcoin section, and a solver is configured. */
  btc?: {
    rpcUrl: string
    user: string
    password: string
    solverWif: string
    genesisHeader: string
    genesisHeight: number
    confirmations: number
  }
  /** A Solana vault each relayer also serves: relayer i signs with `keys[i]` and releases on its own durable nonce. */
  solana?: LocalSolana
  /** A Cosmos vault each relayer also serves: relayer i signs with `keys[i]`. */
  cosmos?: LocalCosmos
  /** Receivers every relayer sends every webhook event to. */
  webhooks?: string[]
}

export interface LocalCosmos {
  chain: string
  rpcUrl: string
  vault: string
  denom: string
  multisig: { threshold: number; pubkeys: string[] }
  keys: { hex: string; pubkey: string }[]
  feeRecipient: string
  providerPayout: string
  /** With `btc`: the solver's Cosmos key (hex), which signs its quotes; the vault repays its account. */
  solverKey?: string
}

export interface LocalSolana {
  chain: string
  rpcUrl: string
  vault: string
  mint: string
  multisig: string
  /** The mint of release receipts, frozen by the multisig: what makes a release once-only. */
  receiptMint: string
  keys: { seed: string; address: string; nonceAccount: string }[]
  feeRecipient: string
  providerPayout: string
  /** With `btc`: the solver's Solana key, which signs its quotes and is repaid from the vault. */
  solver?: { seed: string; address: string }
}

export interface LocalRelayer {
  id: string
  url: string
  /** Where its Prometheus metrics are served, apart from the API. */
  metricsUrl: string
  yaml: string
  store: string
  account: HDAccount
  /** The test faults it runs with, through the dev kit's relayer (launchRelayer). */
  faults: RelayerFaults
}

export interface LocalMarket {
  publicClient: PublicClient
  renter: WalletClient<Transport, Chain, Account>
  escrow: Address
  usdc: Address
  providerPayout: Address
  /** The quorum's fee recipient: one address, so every relayer signs the same settlement. */
  feeRecipient: Address
  provider: Ed25519Signer
  relayers: LocalRelayer[]
  agentYaml: string
  /** Replaces the GPUs the provider's telemetry lists, from its next reading on (absent when it has no nvidia-smi). */
  setGpus?: (gpus: GpuTelemetry[]) => void
  /** With `btc`: the solver's config, and the escrow-chain account its quotes are signed with. */
  solverYaml?: string
  solverQuoter?: HDAccount
  /** With `btc`: the provider's Bitcoin output script (a fresh P2WPKH, hex), listed in its signed record. */
  providerBtcScript?: string
}

/** What the dev kit's provider asks, per slot of its CPU reference device, on each chain it serves. */
function agentPrices(o: LocalMarketOptions, usdc: Address) {
  const price = (chain: string, token: string, perSlot: string) => ({
    chain,
    token,
    gpuClass: REFERENCE_ORDER_GPU.class,
    perSlot,
    slotLength: o.slotSeconds,
  })
  return [
    price(LOCAL_CHAIN, usdc, '10000'),
    price(LOCAL_CHAIN, 'native', '1000000000000'),
    ...(o.solana ? [price(o.solana.chain, o.solana.mint, '10000')] : []),
    ...(o.cosmos ? [price(o.cosmos.chain, o.cosmos.denom, '10000')] : []),
  ]
}

function secretFile(path: string, content: string): string {
  writeFileSync(path, `${content}\n`, { mode: 0o600 })
  chmodSync(path, 0o600)
  return path
}

/**
 * Deploys the escrow and a test token on a local chain and writes one config
 * per relayer of the quorum and a provider-agent config (fresh keys in 0600
 * files) to `dir`.
 * Used by `qantara devnet` and by the end-to-end tests, so both run one setup.
 */
export async function setUpLocalMarket(o: LocalMarketOptions): Promise<LocalMarket> {
  const chain = viemChain(LOCAL_CHAIN, [o.rpcUrl])
  const publicClient = createPublicClient({ chain, transport: http(o.rpcUrl), pollingInterval: 200 })
  const account = (i: number) => mnemonicToAccount(MNEMONIC, { addressIndex: i })
  const wallet = (i: number) => createWalletClient({ chain, transport: http(o.rpcUrl), account: account(i) })
  const n = o.relayers ?? 1
  const threshold = o.threshold ?? 1
  // Anvil accounts: 0 deploys, 2 rents, 3 is the provider's payout, 9 the fee recipient; relayers take 1, then 4 onwards.
  const relayerAccounts = Array.from({ length: n }, (_, i) => account(i === 0 ? 1 : 3 + i))
  const renter = wallet(2)
  const providerPayout = account(3).address
  const feeRecipient = account(9).address
  const deployer = wallet(0)
  const escrowParameters = {
    relayers: relayerAccounts.map((a) => a.address),
    threshold,
    maxFeeBps: 500,
    reclaimGrace: 3600n,
  }
  // BTC payouts on a devnet: a relay in regtest mode (proofs cost nothing there), which the escrow is told to expect.
  const { escrow } = o.btc
    ? await deployBtcEscrow(deployer, publicClient, {
        ...escrowParameters,
        btc: {
          network: 'regtest',
          confirmations: o.btc.confirmations,
          genesis: {
            header: `0x${o.btc.genesisHeader}`,
            height: o.btc.genesisHeight,
            proofLength: o.btc.confirmations,
          },
        },
      })
    : { escrow: await deployEscrow(deployer, publicClient, escrowParameters) }
  const usdc = await deployTestToken(deployer, publicClient, 'USDC', 6)
  await publicClient.waitForTransactionReceipt({
    hash: await renter.writeContract({
      address: usdc,
      abi: testTokenAbi,
      functionName: 'mint',
      args: [renter.account.address, 10n ** 13n],
    }),
  })

  const evmChain = (keyFile: string, acct: HDAccount) => ({
    family: 'evm',
    id: LOCAL_CHAIN,
    rpc: [o.rpcUrl],
    escrow,
    startBlock: 0,
    confirmations: 1,
    pollIntervalMs: 250,
    logRange: 2000,
    key: {
      file: secretFile(join(o.dir, keyFile), `0x${Buffer.from(acct.getHdKey().privateKey!).toString('hex')}`),
    },
    feeRecipient,
    submitter: { receiptConfirmations: 1, bumpAfterMs: 10_000, maxFeePerGasWei: '200000000000' },
  })
  const provider = generateEd25519()
  // Every port at once, so no two of them (an API and another relayer's metrics) can be the same number.
  const free = await freePorts(2 * relayerAccounts.length + 1)
  const agentPort = o.agent?.port ?? free[0]!
  const identities = relayerAccounts.map(() => generateEd25519())
  const ports = relayerAccounts.map((_, i) => free[1 + i]!)
  const metricsPorts = relayerAccounts.map((_, i) => free[1 + relayerAccounts.length + i]!)
  const btcPassword = o.btc ? secretFile(join(o.dir, 'btcd.password'), o.btc.password) : undefined
  const bitcoin = o.btc
    ? {
        network: 'regtest',
        rpc: { url: o.btc.rpcUrl, user: o.btc.user, password: { file: btcPassword } },
        confirmations: o.btc.confirmations,
        startHeight: o.btc.genesisHeight,
        pollIntervalMs: 250,
      }
    : undefined
  const relayers: LocalRelayer[] = relayerAccounts.map((acct, i) => ({
    id: n === 1 ? 'local-relayer' : `relayer-${i + 1}`,
    url: `http://127.0.0.1:${ports[i]}`,
    metricsUrl: `http://127.0.0.1:${metricsPorts[i]}`,
    yaml: join(o.dir, `relayer-${i + 1}.yaml`),
    store: join(o.dir, `relayer-${i + 1}.sqlite`),
    account: acct,
    faults: { byzantine: o.byzantine === i, peerDelayMs: o.slowPeer === i ? (o.slowPeerMs ?? 4_000) : 0 },
  }))
  const members = relayers.map((r, i) => ({
    id: r.id,
    identity: identities[i]!.signer.publicKey,
    evm: r.account.address,
    url: r.url,
    ...(o.solana ? { solana: o.solana.keys[i]!.address } : {}),
    ...(o.cosmos ? { cosmos: o.cosmos.keys[i]!.pubkey } : {}),
  }))
  const solanaChain = (i: number) =>
    o.solana && {
      family: 'solana',
      id: o.solana.chain,
      rpc: [o.solana.rpcUrl],
      vault: o.solana.vault,
      mint: o.solana.mint,
      multisig: o.solana.multisig,
      receiptMint: o.solana.receiptMint,
      nonceAccount: o.solana.keys[i]!.nonceAccount,
      key: { file: secretFile(join(o.dir, `${relayers[i]!.id}.solana.key`), o.solana.keys[i]!.seed) },
      feeRecipient: o.solana.feeRecipient,
      pollIntervalMs: 250,
      // The most one order may owe in BTC: 1 BTC, far above the devnet's.
      ...(o.btc ? { maxPayoutSats: '100000000' } : {}),
    }
  // Fees are free on the devnet's simd, so the vault needs no fee reserve.
  const cosmosChain = (i: number) =>
    o.cosmos && {
      family: 'cosmos',
      id: o.cosmos.chain,
      rpc: [o.cosmos.rpcUrl],
      vault: o.cosmos.vault,
      multisig: o.cosmos.multisig,
      denoms: [o.cosmos.denom],
      gasPrice: '0stake',
      key: { file: secretFile(join(o.dir, `${relayers[i]!.id}.cosmos.key`), o.cosmos.keys[i]!.hex) },
      feeRecipient: o.cosmos.feeRecipient,
      pollIntervalMs: 250,
      ...(o.btc ? { maxPayoutSats: '100000000' } : {}),
    }
  // The quorum's compute challenge schedule: the same on every member, unknown to the provider.
  const challengeSecret = randomBytes(32).toString('hex')
  relayers.forEach((r, i) => {
    writeFileSync(
      r.yaml,
      stringify({
        relayer: {
          id: r.id,
          identityKey: { file: secretFile(join(o.dir, `${r.id}.identity`), identities[i]!.seed) },
        },
        store: { path: r.store },
        api: { listen: `127.0.0.1:${ports[i]}`, metricsListen: `127.0.0.1:${metricsPorts[i]}` },
        log: { level: o.logLevel ?? 'info' },
        quorum: {
          threshold,
          members,
          challengeSecret: { file: secretFile(join(o.dir, 'challenge.secret'), challengeSecret) },
        },
        settlement: {
          feeBps: o.feeBps,
          graceSeconds: o.graceSeconds,
          refundAfterSeconds: Math.max(1, o.slotSeconds),
          acceptTestGpuClasses: true,
        },
        // Every slot carries a compute challenge: the CPU reference answers one in a millisecond at its size.
        prober: {
          timeoutMs: Math.max(500, Math.floor(o.slotSeconds * 300)),
          allowPrivateEndpoints: true,
          computeChallengeRate: 1,
        },
        gossip: {
          intervalMs: 500,
          windowSeconds: Math.max(2, o.slotSeconds),
          failoverSeconds: 3,
          allowPrivatePeers: true,
        },
        chains: [
          evmChain(`${r.id}.evm.key`, r.account),
          ...(o.solana ? [solanaChain(i)] : []),
          ...(o.cosmos ? [cosmosChain(i)] : []),
        ],
        ...(bitcoin ? { bitcoin } : {}),
        ...(o.webhooks?.length
          ? { webhooks: o.webhooks.map((url) => ({ url, events: [...WEBHOOK_EVENTS] })) }
          : {}),
      }),
    )
  })
  // The solver quotes with anvil account 7 and pays from a regtest wallet.
  const solverYaml = o.btc ? writeSolverConfig(o, bitcoin, evmChain('solver.evm.key', account(7))) : undefined
  const agentYaml = join(o.dir, 'agent.yaml')
  const nvidiaSmi = o.gpus === null ? undefined : referenceNvidiaSmi(o.dir, o.gpus ?? [referenceGpu()])
  // Relayers probe a BTC order only when the script it pays is one the provider's record lists.
  const providerBtcScript = o.btc
    ? Buffer.from(BtcWallet.fromKeyText(BtcWallet.generateWif('regtest'), 'regtest').script).toString('hex')
    : undefined
  writeFileSync(
    agentYaml,
    stringify({
      key: { file: secretFile(join(o.dir, 'provider.key'), provider.seed) },
      listen: `127.0.0.1:${agentPort}`,
      publicUrl: o.agent?.publicUrl ?? `http://127.0.0.1:${agentPort}`,
      nvidiaSmi: nvidiaSmi ? nvidiaSmi.path : join(o.dir, 'no-nvidia-smi-here'),
      // The dev kit's device is the CPU reference: it answers compute challenges at the test class's size.
      prover: o.gpus === null ? 'none' : 'cpu-reference',
      // Every heartbeat reads the telemetry afresh, so a GPU the dev kit takes away is gone from the next slot on.
      telemetryTtlMs: 0,
      // The devnet's slots are seconds long and every one is checked: far more checks than 60 s slots bring. Its one
      // CPU reference device runs two orders at once, so each relayer checks both in the same slot.
      computeRateLimit: { perSecond: 20, burst: 100 },
      computeConcurrency: 8,
      payout: {
        [LOCAL_CHAIN]: providerPayout,
        ...(o.solana ? { [o.solana.chain]: o.solana.providerPayout } : {}),
        ...(o.cosmos ? { [o.cosmos.chain]: o.cosmos.providerPayout } : {}),
      },
      prices: agentPrices(o, usdc),
      ...(providerBtcScript ? { btcScripts: [providerBtcScript] } : {}),
      relayers: relayers.filter((_, i) => !o.announceTo || o.announceTo.includes(i)).map((r) => r.url),
      // Only the quorum challenges the agent: a key outside it is refused before anything is signed.
      relayerKeys: identities.map((id) => id.signer.publicKey),
      recordTtlSeconds: 3600,
    }),
  )
  return {
    publicClient,
    renter,
    escrow,
    usdc,
    providerPayout,
    feeRecipient,
    provider: provider.signer,
    relayers,
    agentYaml,
    ...(nvidiaSmi ? { setGpus: nvidiaSmi.setGpus } : {}),
    ...(solverYaml ? { solverYaml, solverQuoter: account(7) } : {}),
    ...(providerBtcScript ? { providerBtcScript } : {}),
  }
}

/** Runs `qantara <args>` as a child process, its output appended to `logFile`. */
export function launchQantara(args: string[], logFile: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  return launch(MAIN, args, logFile, env)
}

/** Runs one of the market's relayers: `qantara relay`, or the dev kit's relayer where it runs with faults. */
export function launchRelayer(r: LocalRelayer, logFile: string): ChildProcess {
  return r.faults.byzantine || r.faults.peerDelayMs
    ? launch(DEVKIT, faultyRelayerArgs(r.yaml, r.faults), logFile)
    : launchQantara(['relay', '--config', r.yaml], logFile)
}

function launch(cli: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  const log = createWriteStream(logFile, { flags: 'a' })
  const child = spawn(process.execPath, [cli, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  child.stdout.pipe(log)
  child.stderr.pipe(log)
  return child
}

/** Resolves once the relayer at `relayerUrl` lists `providerId`. */
export async function providerListed(relayerUrl: string, providerId: string): Promise<boolean> {
  const res = await fetch(`${relayerUrl}/v1/providers`, { signal: AbortSignal.timeout(2_000) }).catch(
    () => undefined,
  )
  const body = res?.ok
    ? ((await res.json()) as { providers: { record: { providerId: string } }[] })
    : undefined
  return body?.providers.some((p) => p.record.providerId === providerId) ?? false
}

/** The solver's config: the market's Bitcoin node, its escrow chain, and the Solana vault where there is one. */
function writeSolverConfig(o: LocalMarketOptions, bitcoin: unknown, evmChain: unknown): string {
  const path = join(o.dir, 'solver.yaml')
  writeFileSync(
    path,
    stringify({
      store: { path: join(o.dir, 'solver.sqlite') },
      log: { level: o.logLevel ?? 'info' },
      bitcoin,
      btcKey: { file: secretFile(join(o.dir, 'solver.wif'), o.btc!.solverWif) },
      chains: [
        evmChain,
        // A solver's Solana entry is the vault's shared fields and its own key: it releases nothing, so no nonce account.
        ...(o.solana?.solver
          ? [
              {
                family: 'solana',
                id: o.solana.chain,
                rpc: [o.solana.rpcUrl],
                vault: o.solana.vault,
                mint: o.solana.mint,
                multisig: o.solana.multisig,
                receiptMint: o.solana.receiptMint,
                key: { file: secretFile(join(o.dir, 'solver.solana.key'), o.solana.solver.seed) },
                maxPayoutSats: '100000000',
                pollIntervalMs: 250,
              },
            ]
          : []),
        ...(o.cosmos?.solverKey
          ? [
              {
                family: 'cosmos',
                id: o.cosmos.chain,
                rpc: [o.cosmos.rpcUrl],
                vault: o.cosmos.vault,
                multisig: o.cosmos.multisig,
                denoms: [o.cosmos.denom],
                gasPrice: '0stake',
                key: { file: secretFile(join(o.dir, 'solver.cosmos.key'), o.cosmos.solverKey) },
                maxPayoutSats: '100000000',
                pollIntervalMs: 250,
              },
            ]
          : []),
      ],
      // Regtest blocks come on demand here: a minute is ample for a payout to be confirmed and proved.
      proofLatencySeconds: 60,
    }),
  )
  return path
}
