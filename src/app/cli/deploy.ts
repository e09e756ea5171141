import { resolve } from 'node:path'
import type { Command } from 'commander'
import { createPublicClient, createWalletClient, http, isAddress, type Address } from 'viem'
import { defaultMaxPayoutSats, type BtcRelayNetwork } from '../../../adapters/evm/deploy.js'
import { deployEvm, type EvmDeploymentPlan } from '../../../adapters/evm/deployment.js'
import { viemChain } from '../../../adapters/evm/chain.js'
import { evmAccountFromSecret } from '../../../adapters/evm/keys.js'
import { deploymentRunAt } from '../../config/deployment.js'
import { readSecret } from '../../config/keySource.js'
import { QantaraError } from '../../errors.js'
import {
  keySourceOf,
  keySourceOptions,
  listOf,
  positiveInt,
  wholeNumber,
  type KeySourceOptions,
} from './options.js'
import type { CliOutput } from './output.js'

/** Bitcoin's difficulty epoch: a mainnet relay is anchored at an epoch's first block. */
const EPOCH_BLOCKS = 2016

interface DeployEvmOptions extends KeySourceOptions {
  rpc: string
  chain: string
  relayers: string
  threshold: number
  maxFeeBps: number
  reclaimGrace: number
  out: string
  btcNetwork?: BtcRelayNetwork
  btcConfirmations: number
  btcGenesisHeight?: number
  btcGenesisHeader?: string
  btcProofLength?: number
  btcMaxPayoutSats?: string
  btcRelayOwner?: string
}

/** `qantara deploy evm`: the escrow (and its light relay) for a quorum, recorded for the relayers' configs to point at. */
export function registerDeployCommands(program: Command, io: CliOutput): void {
  const deploy = program
    .command('deploy')
    .description("deploy a chain's contracts for a quorum; re-run to finish or check a deployment")
  keySourceOptions(
    deploy
      .command('evm')
      .description(
        'deploy a QantaraEscrow (with --btc-network, its BtcLightRelay, anchored) and write a deployment record',
      )
      .requiredOption('--rpc <url>', 'JSON-RPC URL of the chain')
      .requiredOption(
        '--chain <caip2>',
        'the chain the RPC must serve, e.g. eip155:8453: nothing is sent elsewhere',
      )
      .requiredOption('--relayers <addresses>', "comma-separated members' EVM addresses, any order")
      .requiredOption('--threshold <n>', 'signatures a settlement needs', positiveInt)
      .option(
        '--max-fee-bps <n>',
        "the most relayers' fee a settlement may take, in basis points",
        positiveInt,
        500,
      )
      .option(
        '--reclaim-grace <seconds>',
        "how long after an order's end its renter must wait to reclaim it",
        positiveInt,
        86_400,
      )
      .requiredOption('--out <file>', 'the deployment record: written as it goes, read back on a re-run')
      .option('--btc-network <network>', 'mainnet | regtest: deploy a light relay, for providers paid in BTC')
      .option('--btc-confirmations <n>', 'headers a payout proof must carry', positiveInt, 6)
      .option(
        '--btc-genesis-height <n>',
        "the relay's anchor: an epoch's first block on mainnet",
        wholeNumber,
      )
      .option(
        '--btc-genesis-header <hex>',
        'the 80-byte header at that height (bitcoin-cli getblockheader <hash> false)',
      )
      .option(
        '--btc-proof-length <n>',
        'headers a retarget carries on each side of the boundary (1-100)',
        positiveInt,
      )
      .option(
        '--btc-max-payout-sats <n>',
        'the most one order may be owed in BTC; default: half what the confirmations earn a miner',
      )
      .option(
        '--btc-relay-owner <address>',
        "hand the relay's ownership (its proof length) to this address once anchored",
      ),
    'the deployer key',
  ).action(async (o: DeployEvmOptions) => {
    const plan = evmPlan(o)
    const path = resolve(o.out)
    const account = evmAccountFromSecret(readSecret(keySourceOf(o), process.env, process.cwd()))
    const chain = viemChain(o.chain, [o.rpc])
    const transport = http(o.rpc, { timeout: 30_000, retryCount: 2 })
    const publicClient = createPublicClient({ chain, transport })
    const served = await publicClient.getChainId()
    if (served !== chain.id)
      throw new QantaraError('RPC_WRONG_CHAIN', `${o.rpc} serves eip155:${served}, not ${o.chain}`)
    const deployed = await deployEvm({
      wallet: createWalletClient({ account, chain, transport }),
      publicClient,
      plan,
      ...deploymentRunAt(path, (line) => io.note(`# ${line}`)),
    })
    const entry = { family: 'evm', deployment: path }
    io.result(
      {
        record: path,
        escrow: deployed.escrow,
        startBlock: deployed.startBlock,
        relay: deployed.relay ?? null,
        chainEntry: entry,
      },
      () => [
        `# ${path}: escrow ${deployed.escrow} from block ${deployed.startBlock}`,
        ...(deployed.relay ? [`# light relay ${deployed.relay}`] : []),
        `# in each relayer's config, the chain entry:`,
        `- family: evm\n  deployment: ${path}`,
      ],
    )
  })
}

function evmPlan(o: DeployEvmOptions): EvmDeploymentPlan {
  const relayers = listOf(o.relayers)
  const bad = relayers.find((r) => !isAddress(r))
  if (bad) throw new QantaraError('CONFIG_INVALID', `--relayers: ${bad} is not an EVM address`)
  if (new Set(relayers.map((r) => r.toLowerCase())).size !== relayers.length)
    throw new QantaraError('CONFIG_INVALID', '--relayers: an address is listed twice')
  if (o.threshold > relayers.length)
    throw new QantaraError(
      'CONFIG_INVALID',
      `--threshold ${o.threshold} is more than the ${relayers.length} relayers`,
    )
  if (o.maxFeeBps > 10_000) throw new QantaraError('CONFIG_INVALID', '--max-fee-bps is at most 10000')
  const plan: EvmDeploymentPlan = {
    relayers: relayers as Address[],
    threshold: o.threshold,
    maxFeeBps: o.maxFeeBps,
    reclaimGrace: BigInt(o.reclaimGrace),
  }
  return o.btcNetwork ? { ...plan, btc: btcPlan(o, o.btcNetwork) } : plan
}

function btcPlan(o: DeployEvmOptions, network: BtcRelayNetwork): NonNullable<EvmDeploymentPlan['btc']> {
  if (network !== 'mainnet' && network !== 'regtest')
    throw new QantaraError('CONFIG_INVALID', '--btc-network is mainnet or regtest')
  const height = o.btcGenesisHeight
  const header = o.btcGenesisHeader?.replace(/^0x/, '')
  if (height === undefined || header === undefined)
    throw new QantaraError(
      'CONFIG_INVALID',
      '--btc-network needs --btc-genesis-height and --btc-genesis-header',
    )
  if (!/^[0-9a-fA-F]{160}$/.test(header))
    throw new QantaraError('CONFIG_INVALID', '--btc-genesis-header must be an 80-byte header in hex')
  if (network === 'mainnet' && height % EPOCH_BLOCKS !== 0)
    throw new QantaraError(
      'CONFIG_INVALID',
      `--btc-genesis-height ${height} is not an epoch's first block on mainnet; ${height - (height % EPOCH_BLOCKS)} is`,
    )
  const proofLength = o.btcProofLength ?? o.btcConfirmations
  if (proofLength > 100) throw new QantaraError('CONFIG_INVALID', '--btc-proof-length is at most 100')
  if (o.btcRelayOwner !== undefined && !isAddress(o.btcRelayOwner))
    throw new QantaraError('CONFIG_INVALID', '--btc-relay-owner is not an EVM address')
  if (o.btcMaxPayoutSats !== undefined && !/^[1-9]\d{0,17}$/.test(o.btcMaxPayoutSats))
    throw new QantaraError('CONFIG_INVALID', '--btc-max-payout-sats must be a whole number of satoshis')
  return {
    network,
    confirmations: o.btcConfirmations,
    maxPayoutSats:
      o.btcMaxPayoutSats !== undefined
        ? BigInt(o.btcMaxPayoutSats)
        : defaultMaxPayoutSats(o.btcConfirmations),
    genesis: { header: `0x${header}`, height, proofLength },
    ...(o.btcRelayOwner ? { owner: o.btcRelayOwner } : {}),
  }
}
