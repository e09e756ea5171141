import { type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { address, lamports } from '@solana/kit'
import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  http,
  parseEther,
  type Address,
  type Hex,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { foundry } from 'viem/chains'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { startAnvil, type Anvil } from '../devkit/chains/anvil.js'
import { startSimd, type Simd } from '../devkit/chains/simd.js'
import { startSolanaVault, type SolanaVaultBed } from '../devkit/chains/solanaVault.js'
import { freePorts } from '../devkit/freePort.js'
import { referenceGpu, referenceNvidiaSmi } from '../devkit/gpu/referenceGpu.js'
import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { launchQantara, providerListed } from '../devkit/localMarket.js'
import { waitFor } from '../devkit/waitFor.js'
import { readDeploymentRecord, writeDeploymentRecord } from '../src/config/deployment.js'
import { deployTestToken } from '../adapters/evm/deploy.js'
import { qantaraEscrowRuntime } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { lastJsonLine, runCli, type CliResult } from './support/cli.js'
import { tempDir } from './support/tmp.js'

// From nothing to a settled order with the operators' commands only: keys, deploy, vault init, doctor, relay, agent,
// and the renter's order open. Funding is each chain's faucet (anvil's balances, litesvm's airdrop, simd's genesis),
// as a testnet's would be. No GPU runs here: the provider's device is the dev kit's CPU reference behind a stand-in
// nvidia-smi, and the relayers accept its test class.
const SLOT_SECONDS = 3
const tmp = tempDir()
const at = (name: string) => join(tmp.dir, name)
const USDC = 'ibc/498A0751C798A0D9A389AA3691123DADA57DAA4FE165D5C75894505B876BA6E4'
const children: ChildProcess[] = []

async function qantara(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli(args, { env: { ...process.env, ...env }, timeoutMs: 120_000 })
}

async function ok(args: string[]): Promise<string> {
  const run = await qantara(args)
  expect(run.code, `qantara ${args.join(' ')}\n${run.stderr}`).toBe(0)
  return run.stdout
}

/** `qantara keys new`: the file it wrote, and the public parts it printed for the config. */
async function key(kind: string, file: string, ...extra: string[]) {
  const printed = parse(await ok(['keys', 'new', kind, '--out', at(file), ...extra])) as {
    'quorum.members[]'?: Record<string, string>
    account?: string
    providerId?: string
  }
  return { file: at(file), member: printed['quorum.members[]'] ?? {}, ...printed }
}

let anvil: Anvil
let sol: SolanaVaultBed
let simd: Simd
let ports: number[]
const relayerIds = ['alpha', 'beta'] as const
let keys: Awaited<ReturnType<typeof makeKeys>>

async function makeKeys() {
  const relayer = async (id: string) => ({
    identity: await key('identity', `${id}.identity`),
    evm: await key('evm', `${id}.evm`),
    solana: await key('solana', `${id}.solana.json`),
    cosmos: await key('cosmos', `${id}.cosmos`, '--prefix', 'cosmos'),
  })
  return {
    relayers: [await relayer('alpha'), await relayer('beta')],
    deployer: await key('evm', 'deployer.evm'),
    solanaPayer: await key('solana', 'payer.solana.json'),
    cosmosPayer: await key('cosmos', 'payer.cosmos', '--prefix', 'cosmos'),
    provider: await key('provider', 'provider.key'),
    renter: await key('evm', 'renter.evm'),
  }
}

beforeAll(async () => {
  keys = await makeKeys()
  anvil = await startAnvil({ blockTime: 1 })
  // The chain's USDC: an SPL mint that exists before any vault does (the bed's own multisig is not the one under test).
  sol = await startSolanaVault([address(keys.solanaPayer.member.solana!)], 1)
  simd = await startSimd({
    chainId: 'qantara-local',
    accounts: [{ address: keys.cosmosPayer.account!, coins: `100000000000stake,100000000000${USDC}` }],
  })
  ports = await freePorts(6)
}, 180_000)

afterAll(async () => {
  for (const c of children) c.kill('SIGTERM')
  await Promise.all([anvil?.stop(), sol?.stop(), simd?.stop()])
  tmp.cleanup()
})

const evmClient = () => createPublicClient({ chain: foundry, transport: http(anvil.rpcUrl) })
const faucet = () => createTestClient({ chain: foundry, mode: 'anvil', transport: http(anvil.rpcUrl) })
const urlOf = (i: number) => `http://127.0.0.1:${ports[i]}`

function writeRelayerConfig(i: number, challenge: string): string {
  const id = relayerIds[i]!
  const path = at(`${id}.yaml`)
  writeFileSync(
    path,
    stringify({
      relayer: { id, identityKey: { file: `./${id}.identity` } },
      store: { path: `./${id}.sqlite` },
      api: { listen: `127.0.0.1:${ports[i]}`, metricsListen: `127.0.0.1:${ports[2 + i]}` },
      quorum: {
        threshold: 2,
        members: keys.relayers.map((r, j) => ({
          id: relayerIds[j],
          ...r.identity.member,
          ...r.evm.member,
          ...r.solana.member,
          ...r.cosmos.member,
          url: urlOf(j),
        })),
        challengeSecret: { file: challenge },
      },
      settlement: { graceSeconds: 1, acceptTestGpuClasses: true },
      prober: { timeoutMs: 1_000, allowPrivateEndpoints: true, computeChallengeRate: 1 },
      gossip: { intervalMs: 500, windowSeconds: SLOT_SECONDS, failoverSeconds: 3, allowPrivatePeers: true },
      chains: [
        {
          family: 'evm',
          deployment: './evm.json',
          rpc: [anvil.rpcUrl],
          confirmations: 1,
          pollIntervalMs: 250,
          key: { file: `./${id}.evm` },
          submitter: { maxFeePerGasWei: '10000000000' },
        },
        {
          family: 'solana',
          deployment: './solana.json',
          rpc: [sol.rpc.url],
          pollIntervalMs: 250,
          key: { file: `./${id}.solana.json` },
        },
        {
          family: 'cosmos',
          deployment: './cosmos.json',
          rpc: [simd.rpcUrl],
          denoms: [USDC],
          gasPrice: '0.025stake',
          pollIntervalMs: 250,
          key: { file: `./${id}.cosmos` },
        },
      ],
    }),
  )
  return path
}

/** `qantara doctor`'s verdict on each subject whose line starts with `level`. */
function lines(stdout: string, level: 'ok' | 'warn' | 'problem'): string[] {
  return stdout.split('\n').filter((l) => l.startsWith(`${level} `))
}

describe("an operator's path from nothing to a settled order (the GPU is the CPU reference: no GPU here)", () => {
  it('keys, deploy, vault init, doctor catching each seeded misconfiguration with its fix, then relayers, an agent and an order settled', async () => {
    const [alpha, beta] = keys.relayers as [(typeof keys.relayers)[0], (typeof keys.relayers)[0]]
    const evmMembers = [alpha.evm.member.evm!, beta.evm.member.evm!]
    await faucet().setBalance({ address: keys.deployer.member.evm as Address, value: parseEther('10') })
    sol.rpc.svm.airdrop(address(keys.solanaPayer.member.solana!), lamports(10_000_000_000n))

    await ok([
      ...[
        'deploy',
        'evm',
        '--rpc',
        anvil.rpcUrl,
        '--chain',
        'eip155:31337',
        '--key-file',
        keys.deployer.file,
      ],
      ...['--relayers', evmMembers.join(','), '--threshold', '2', '--out', at('evm.json')],
    ])
    const vaultArgs = (family: string, members: string[]) => [
      ...[
        'vault',
        'init',
        family,
        '--members',
        members.join(','),
        '--threshold',
        '2',
        '--out',
        at(`${family}.json`),
      ],
    ]
    await ok([
      ...vaultArgs('solana', [alpha.solana.member.solana!, beta.solana.member.solana!]),
      ...[
        '--rpc',
        sol.rpc.url,
        '--chain',
        'solana:litesvm',
        '--mint',
        sol.mint,
        '--key-file',
        keys.solanaPayer.file,
      ],
    ])
    const cosmosVault = [
      ...vaultArgs('cosmos', [alpha.cosmos.member.cosmos!, beta.cosmos.member.cosmos!]),
      ...['--rpc', simd.rpcUrl, '--chain', 'cosmos:qantara-local', '--prefix', 'cosmos'],
    ]
    await ok(cosmosVault)

    const challenge = (await key('secret', 'challenge.secret')).file
    const configs = [writeRelayerConfig(0, challenge), writeRelayerConfig(1, challenge)]
    for (const c of configs) await ok(['config', 'validate', c])

    // Doctor on a fresh quorum: nothing funded, the vault's fee reserve empty, the peer not started.
    const fresh = await qantara(['doctor', '--config', configs[0]!])
    expect(fresh.code).toBe(1)
    const problems = lines(fresh.stdout, 'problem').join('\n')
    expect(problems).toContain(`gas of ${alpha.evm.member.evm}`)
    expect(problems).toContain(`SOL of ${alpha.solana.member.solana}`)
    expect(problems).toContain('cosmos:qantara-local vault cosmos1')
    expect(problems).toContain(`peer beta ${urlOf(1)}`)
    expect(fresh.stdout).toContain('fix: fund')
    expect(fresh.stdout).toContain('fix: send the vault at least')
    expect(fresh.stdout).toContain('--fee-reserve')
    expect(lines(fresh.stdout, 'ok').join('\n')).toContain('relayer set')

    // Fund as the runbook says: gas and SOL for each relayer, the vault's fee reserve.
    for (const r of keys.relayers) {
      await faucet().setBalance({ address: r.evm.member.evm as Address, value: parseEther('10') })
      sol.rpc.svm.airdrop(address(r.solana.member.solana!), lamports(1_000_000_000n))
    }
    await ok([
      ...cosmosVault,
      '--fee-reserve',
      '5000000stake',
      '--gas-price',
      '0.025stake',
      '--key-file',
      keys.cosmosPayer.file,
    ])

    const launch = (args: string[], log: string) => {
      const child = launchQantara(args, at(log))
      children.push(child)
      return child
    }
    launch(['relay', '--config', configs[0]!], 'alpha.log')
    launch(['relay', '--config', configs[1]!], 'beta.log')
    for (const i of [0, 1])
      await waitFor(
        async () => ((await fetch(`${urlOf(i)}/livez`).catch(() => undefined))?.ok ? true : undefined),
        `${relayerIds[i]} live`,
        60_000,
        250,
      )

    // Each chain's RPC requests are counted per endpoint on the metrics listener, and what each signing key (the
    // Cosmos vault's fee reserve) can pay for: 10 ETH at 500,000 gas × 10 gwei, 1 SOL at 0.0025 a release, 5,000,000
    // stake at 10,000 a release.
    const funded = [
      `qantara_signer_funded_settlements{chain="eip155:31337",account="${alpha.evm.member.evm}"} 2000`,
      `qantara_signer_funded_settlements{chain="solana:litesvm",account="${alpha.solana.member.solana}"} 400`,
      `qantara_signer_funded_settlements{chain="cosmos:qantara-local",account="${readDeploymentRecord(at('cosmos.json'))!.config.vault as string}"} 500`,
    ]
    const metrics = await waitFor(
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${ports[2]}/metrics`)).text()
        return funded.every((line) => text.includes(line)) ? text : undefined
      },
      `the funds gauges: ${funded.join(', ')}`,
      30_000,
      500,
    )
    for (const [chain, url] of [
      ['eip155:31337', anvil.rpcUrl],
      ['solana:litesvm', sol.rpc.url],
      ['cosmos:qantara-local', simd.rpcUrl],
    ])
      expect(metrics).toMatch(
        new RegExp(`qantara_rpc_requests_total\\{chain="${chain}",endpoint="${url}",outcome="ok"\\} [1-9]`),
      )

    const healthy = await qantara(['doctor', '--config', configs[0]!])
    expect(healthy.stdout.split('\n').filter((l) => /^(warn|problem) /.test(l))).toEqual([])
    expect(healthy.code, healthy.stdout).toBe(0)
    expect(healthy.stdout).toContain(`QantaraEscrow created by ${keys.deployer.member.evm} in block`)
    expect(healthy.stdout).toContain('fees capped at 500 bps')

    // Seeded misconfigurations, each caught with its fix. Among them, an escrow and a vault that hold the quorum's keys
    // and a stranger's, as a tampered record would name them, and a record naming a contract that is no escrow.
    const other = await startAnvil({ chainId: 5 })
    const stranger = { evm: await key('evm', 'stranger.evm'), cosmos: await key('cosmos', 'stranger.cosmos') }
    await ok([
      ...[
        'deploy',
        'evm',
        '--rpc',
        anvil.rpcUrl,
        '--chain',
        'eip155:31337',
        '--key-file',
        keys.deployer.file,
      ],
      ...['--relayers', [...evmMembers, stranger.evm.member.evm!].join(','), '--threshold', '2'],
      ...['--out', at('evil-evm.json')],
    ])
    await ok([
      ...[
        'vault',
        'init',
        'cosmos',
        '--rpc',
        simd.rpcUrl,
        '--chain',
        'cosmos:qantara-local',
        '--prefix',
        'cosmos',
      ],
      ...[
        '--members',
        [alpha.cosmos.member.cosmos!, beta.cosmos.member.cosmos!, stranger.cosmos.member.cosmos!].join(','),
      ],
      ...['--threshold', '2', '--out', at('evil-cosmos.json')],
    ])
    const deployerWallet = createWalletClient({
      chain: foundry,
      transport: http(anvil.rpcUrl),
      account: privateKeyToAccount(readFileSync(keys.deployer.file, 'utf8').trim() as Hex),
    })
    const notEscrow = await deployTestToken(deployerWallet, evmClient(), 'FAKE', 6)
    const record = readDeploymentRecord(at('evm.json'))!
    writeDeploymentRecord(at('not-escrow.json'), {
      ...record,
      config: { ...record.config, escrow: notEscrow },
    })
    // The escrow's very code, put on chain by creation code that only copies it: its storage is its creator's.
    const runtime = qantaraEscrowRuntime.code.slice(2)
    const copier: Hex = `0x61${(runtime.length / 2).toString(16).padStart(4, '0')}80600c6000396000f3${runtime}`
    const copied = await evmClient().waitForTransactionReceipt({
      hash: await deployerWallet.sendTransaction({ data: copier }),
    })
    writeDeploymentRecord(at('copied-escrow.json'), {
      ...record,
      config: { escrow: copied.contractAddress!, startBlock: copied.blockNumber.toString() },
    })
    const seeded: [NodeJS.ProcessEnv, string, string][] = [
      [
        { QANTARA__CHAINS__0__DEPLOYMENT: './evil-evm.json' },
        `the escrow's set also holds ${stranger.evm.member.evm}, which no quorum member names`,
        'fix: use an escrow deployed for exactly this quorum',
      ],
      [
        { QANTARA__CHAINS__2__DEPLOYMENT: './evil-cosmos.json' },
        `the vault's multisig also holds ${stranger.cosmos.member.cosmos}, which no quorum member names`,
        'fix: use a vault made for exactly this quorum',
      ],
      [
        { QANTARA__CHAINS__0__DEPLOYMENT: './copied-escrow.json' },
        "it was not created by this release's QantaraEscrow constructor",
        'fix: use an escrow deployed by `qantara deploy evm`',
      ],
      [
        { QANTARA__CHAINS__0__DEPLOYMENT: './not-escrow.json' },
        "the contract here is not this release's QantaraEscrow",
        'fix: point the chain at an escrow deployed by this release',
      ],
      [
        { QANTARA__QUORUM__THRESHOLD: '1' },
        'the escrow needs 2 signatures; quorum.threshold says 1',
        'fix: set quorum.threshold to 2',
      ],
      [
        { QANTARA__CHAINS__0__RPC: `["${other.rpcUrl}"]` },
        'serves eip155:5, not eip155:31337',
        'fix: give an RPC of eip155:31337',
      ],
      [
        { QANTARA__CHAINS__1__RPC: '["http://127.0.0.1:9"]' },
        'solana:litesvm rpc http://127.0.0.1:9',
        'fix: check the URL, its API key',
      ],
      [
        { QANTARA__QUORUM__MEMBERS__1__IDENTITY: alpha.identity.member.identity! },
        "is not sealed by beta's identity",
        "fix: ask beta's operator for its identity",
      ],
    ]
    for (const [env, finding, fix] of seeded) {
      const run = await qantara(['doctor', '--config', configs[0]!], env)
      expect(run.code, JSON.stringify(env)).toBe(1)
      expect(lines(run.stdout, 'problem').join('\n'), JSON.stringify(env)).toContain(finding)
      expect(run.stdout, JSON.stringify(env)).toContain(fix)
    }
    await other.stop()

    // The provider's agent, from its own key, on a host whose nvidia-smi lists the CPU reference device.
    const nvidiaSmi = referenceNvidiaSmi(tmp.dir, [referenceGpu()])
    const providerId = keys.provider.providerId!
    const escrow = readDeploymentRecord(at('evm.json'))!.config.escrow as Address
    const payout = (await key('evm', 'payout.evm')).member.evm!
    writeFileSync(
      at('agent.yaml'),
      stringify({
        key: { file: './provider.key' },
        listen: `127.0.0.1:${ports[4]}`,
        metricsListen: `127.0.0.1:${ports[5]}`,
        publicUrl: `http://127.0.0.1:${ports[4]}`,
        nvidiaSmi: nvidiaSmi.path,
        prover: 'cpu-reference',
        payout: { 'eip155:31337': payout },
        prices: [
          {
            chain: 'eip155:31337',
            token: 'native',
            gpuClass: REFERENCE_ORDER_GPU.class,
            perSlot: '1000000000000',
            slotLength: SLOT_SECONDS,
          },
        ],
        relayers: [urlOf(0), urlOf(1)],
        relayerKeys: keys.relayers.map((r) => r.identity.member.identity),
        recordTtlSeconds: 3600,
      }),
    )
    launch(['agent', '--config', at('agent.yaml')], 'agent.log')
    for (const i of [0, 1])
      await waitFor(
        async () => (await providerListed(urlOf(i), providerId)) || undefined,
        `the provider at ${relayerIds[i]}`,
        30_000,
        250,
      )

    await faucet().setBalance({ address: keys.renter.member.evm as Address, value: parseEther('1') })
    const opened = lastJsonLine<{ orderId: string }>(
      await ok([
        ...[
          'order',
          'open',
          '--rpc',
          anvil.rpcUrl,
          '--escrow',
          escrow,
          '--chain',
          'eip155:31337',
          '--key-file',
          keys.renter.file,
        ],
        ...['--provider', providerId, '--relayer', urlOf(0), '--amount', '1000000000000000', '--slots', '2'],
        ...['--slot-length', String(SLOT_SECONDS), '--gpu', '1xcpu-reference', '--start', '+4', '--json'],
      ]),
    )
    const settled = await waitFor(
      async () => {
        const status = JSON.parse(
          await ok([
            'order',
            'status',
            opened.orderId,
            '--rpc',
            anvil.rpcUrl,
            '--escrow',
            escrow,
            '--chain',
            'eip155:31337',
            '--json',
          ]),
        ) as { onChain: string }
        return status.onChain === 'settled' ? status : undefined
      },
      'the order to settle',
      90_000,
      1_000,
    )
    expect(settled.onChain).toBe('settled')
    // The agent's own metrics: its record reached both relayers, it answered their challenges, it sees its GPU.
    const agentMetrics = await (await fetch(`http://127.0.0.1:${ports[5]}/metrics`)).text()
    expect(agentMetrics).toMatch(/qantara_agent_requests_total\{route="heartbeat",status="200"\} [1-9]/)
    expect(agentMetrics).toContain('qantara_agent_gpus_missing 0')
    for (const i of [0, 1])
      expect(agentMetrics).toContain(
        `qantara_agent_record_announcements_total{relayer="${urlOf(i)}",outcome="accepted"} 1`,
      )
    expect(await evmClient().getBalance({ address: payout as Address })).toBeGreaterThan(0n)
  }, 600_000)
})
