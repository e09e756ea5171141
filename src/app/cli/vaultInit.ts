import { resolve } from 'node:path'
import { parseCoins } from '@cosmjs/amino'
import type { Command } from 'commander'
import { address, isAddress } from '@solana/kit'
import { cosmosPubkey } from '../../../adapters/cosmos/config.js'
import { initCosmosVault } from '../../../adapters/cosmos/vaultInit.js'
import { solanaKeyPairSigner } from '../../../adapters/solana/keys.js'
import { solanaRpc } from '../../../adapters/solana/rpc.js'
import { initSolanaVault } from '../../../adapters/solana/vaultInit.js'
import { deploymentRunAt } from '../../config/deployment.js'
import { readSecret } from '../../config/keySource.js'
import { QantaraError } from '../../errors.js'
import { keySourceOf, keySourceOptions, listOf, positiveInt, type KeySourceOptions } from './options.js'
import type { CliOutput } from './output.js'

interface VaultOptions extends KeySourceOptions {
  rpc: string
  chain: string
  members: string
  threshold: number
  out: string
}

/** `qantara vault init solana|cosmos`: a quorum's vault, recorded for the relayers' configs to point at. */
export function registerVaultInitCommands(program: Command, io: CliOutput): void {
  const init = program
    .command('vault')
    .description('set up a vault on a chain without escrow contracts')
    .command('init')
    .description("create or check a quorum's vault; re-run to finish or check one")
  const common = (cmd: Command, members: string) =>
    cmd
      .requiredOption('--rpc <url>', 'RPC URL of the chain')
      .requiredOption('--chain <caip2>', 'the chain the RPC must serve: nothing is sent elsewhere')
      .requiredOption('--members <keys>', members)
      .requiredOption('--threshold <n>', 'signatures a release needs', positiveInt)
      .requiredOption('--out <file>', 'the deployment record: written as it goes, read back on a re-run')
  const log = (line: string) => io.note(`# ${line}`)

  keySourceOptions(
    common(
      init
        .command('solana')
        .description(
          "an SPL Token multisig of the members' keys owning a token account of --mint, a receipt mint, and a durable nonce account for each member",
        ),
      "comma-separated members' Solana addresses",
    )
      .requiredOption('--mint <address>', 'the SPL Token mint orders are paid in')
      .option('--name <name>', "names this vault among the payer's (its accounts' seeds)", 'qantara'),
    'the payer of the accounts and their rent',
  ).action(async (o: VaultOptions & { mint: string; name: string }) => {
    const members = listOf(o.members)
    const bad = [o.mint, ...members].find((a) => !isAddress(a))
    if (bad) throw new QantaraError('CONFIG_INVALID', `${bad} is not a Solana address`)
    if (o.threshold > members.length)
      throw new QantaraError(
        'CONFIG_INVALID',
        `--threshold ${o.threshold} is more than the ${members.length} members`,
      )
    const path = resolve(o.out)
    const vault = await initSolanaVault({
      rpc: solanaRpc({ urls: [o.rpc], timeoutMs: 30_000 }),
      chain: o.chain,
      payer: await solanaKeyPairSigner(readSecret(keySourceOf(o), process.env, process.cwd())),
      plan: {
        name: o.name,
        members: members.map((m) => address(m)),
        threshold: o.threshold,
        mint: address(o.mint),
      },
      ...deploymentRunAt(path, log),
    })
    io.result(
      {
        record: path,
        vault: vault.vault,
        multisig: vault.multisig,
        receiptMint: vault.receiptMint,
        nonceAccounts: vault.nonceAccounts,
        chainEntry: { family: 'solana', deployment: path },
      },
      () => [
        `# ${path}: vault ${vault.vault} under multisig ${vault.multisig}, receipt mint ${vault.receiptMint}`,
        ...Object.entries(vault.nonceAccounts).map(
          ([member, nonce]) =>
            `# ${member}: nonce account ${nonce}; fund ${member} with SOL for its releases' fees and receipts`,
        ),
        `# in each relayer's config, the chain entry:`,
        `- family: solana\n  deployment: ${path}`,
      ],
    )
  })

  keySourceOptions(
    common(
      init
        .command('cosmos')
        .description(
          "the members' amino threshold multisig account; with --fee-reserve, coins sent to it for its releases' fees",
        ),
      "comma-separated members' public keys (base64, as `qantara keys show cosmos` prints them)",
    )
      .requiredOption('--prefix <bech32>', "the chain's account address prefix")
      .option(
        '--fee-reserve <coins>',
        'coins the payer sends the vault for release fees, e.g. 5000000uatom (a denom orders are not paid in)',
      )
      .option('--gas-price <price>', "the fee reserve transfer's gas price, e.g. 0.025uatom"),
    'the payer of the fee reserve (with --fee-reserve)',
  ).action(async (o: VaultOptions & { prefix: string; feeReserve?: string; gasPrice?: string }) => {
    const members = listOf(o.members)
    const bad = members.find((m) => !cosmosPubkey.safeParse(m).success)
    if (bad)
      throw new QantaraError('CONFIG_INVALID', `${bad} is not a compressed secp256k1 public key in base64`)
    const path = resolve(o.out)
    const { vault } = await initCosmosVault({
      rpcUrl: o.rpc,
      chain: o.chain,
      plan: {
        members,
        threshold: o.threshold,
        prefix: o.prefix,
        ...(o.feeReserve ? { feeReserve: feeReserve(o, o.feeReserve) } : {}),
      },
      ...deploymentRunAt(path, log),
    })
    io.result(
      { record: path, vault, threshold: o.threshold, chainEntry: { family: 'cosmos', deployment: path } },
      () => [
        `# ${path}: vault ${vault}, a ${o.threshold}-of-${members.length} multisig`,
        `# in each relayer's config, the chain entry:`,
        `- family: cosmos\n  deployment: ${path}`,
      ],
    )
  })
}

function feeReserve(o: KeySourceOptions & { gasPrice?: string }, text: string) {
  let coins: ReturnType<typeof parseCoins>
  try {
    coins = parseCoins(text)
  } catch {
    coins = []
  }
  if (coins.length !== 1 || BigInt(coins[0]!.amount) === 0n)
    throw new QantaraError('CONFIG_INVALID', '--fee-reserve is one amount of one denom, e.g. 5000000uatom')
  if (!o.gasPrice) throw new QantaraError('CONFIG_INVALID', '--fee-reserve needs --gas-price')
  return {
    amount: coins[0]!.amount,
    denom: coins[0]!.denom,
    gasPrice: o.gasPrice,
    payer: readSecret(keySourceOf(o), process.env, process.cwd()),
  }
}
