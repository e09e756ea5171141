import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { stringify } from 'yaml'
import { familyOfChain } from '../../caip2.js'
import { QantaraError } from '../../errors.js'
import type { SettlementFamily } from '../../family.js'
import { FAMILIES } from '../families.js'
import { newKey } from './keys.js'
import { listOf } from './options.js'
import type { CliOutput } from './output.js'

interface InitOptions {
  dir: string
  id: string
  chain: string[]
  url?: string
  cosmosDenom?: string
  cosmosGasPrice?: string
}

/** The file each family's key is kept in, as its tools name them. */
const KEY_FILE: Record<SettlementFamily, string> = {
  evm: 'evm.key',
  solana: 'solana.json',
  cosmos: 'cosmos.key',
}

/**
 * `qantara init`: one operator's start. Makes this relayer's keys (identity,
 * and one per family of the chains given) and a relayer config whose chains
 * name the deployment records `qantara deploy` / `vault init` will write, and
 * prints the quorum member entry to send the other operators. Its quorum is
 * this relayer alone until their entries are added.
 */
export function registerInitCommand(program: Command, io: CliOutput): void {
  program
    .command('init')
    .description("make this operator's keys and a relayer config for the chains given (docs/OPERATING.md)")
    .requiredOption('--dir <dir>', 'folder to write into; one holding a relayer.yaml is refused')
    .requiredOption('--id <id>', "this relayer's id in the quorum")
    .option(
      '--chain <caip2=url,…>',
      'a chain and its RPC URLs, e.g. eip155:84532=https://a.example,https://b.example; repeat for each',
      (v: string, all: string[]) => [...all, v],
      [],
    )
    .option('--url <origin>', "this relayer's API as its peers reach it, e.g. https://relayer-a.example.org")
    .option('--cosmos-denom <denom>', 'a Cosmos chain: the denom orders are paid in')
    .option('--cosmos-gas-price <price>', "a Cosmos chain: its releases' gas price, e.g. 0.025uatom")
    .action((o: InitOptions) => {
      const made = init(o, process.env)
      io.result(made, () => initText(made))
    })
}

function init(o: InitOptions, env: NodeJS.ProcessEnv) {
  const dir = resolve(o.dir)
  const config = join(dir, 'relayer.yaml')
  if (existsSync(config)) throw new QantaraError('CONFIG_INVALID', `${config} exists: init never overwrites`)
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(o.id))
    throw new QantaraError('CONFIG_INVALID', '--id is 1-63 lower-case letters, digits or dashes')
  const chains = o.chain.map(parseChain)
  if (chains.length === 0) throw new QantaraError('CONFIG_INVALID', 'give at least one --chain')
  const cosmos = chains.some((c) => c.family === 'cosmos')
  if (cosmos && (!o.cosmosDenom || !o.cosmosGasPrice))
    throw new QantaraError('CONFIG_INVALID', 'a Cosmos chain needs --cosmos-denom and --cosmos-gas-price')
  mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 })
  mkdirSync(join(dir, 'deployments'), { recursive: true })
  const make = (kind: 'identity' | SettlementFamily, file: string) =>
    (newKey(kind, { out: join(dir, 'keys', file) }, env).parts['quorum.members[]'] ?? {}) as Record<
      string,
      string
    >
  const member: Record<string, string> = { id: o.id, ...make('identity', 'identity.key') }
  for (const family of new Set(chains.map((c) => c.family)))
    Object.assign(member, make(family, KEY_FILE[family]))
  if (o.url) member.url = o.url
  const entries = chains.map((c) => ({
    family: c.family,
    deployment: `./deployments/${c.id.replace(/:/g, '-')}.json`,
    rpc: c.rpc,
    key: { file: `./keys/${KEY_FILE[c.family]}` },
    ...(c.family === 'evm' ? { submitter: { maxFeePerGasWei: '100000000000' } } : {}),
    ...(c.family === 'cosmos' ? { denoms: [o.cosmosDenom], gasPrice: o.cosmosGasPrice } : {}),
  }))
  const yaml = stringify({
    relayer: { id: o.id, identityKey: { file: './keys/identity.key' } },
    store: { path: `./data/${o.id}.sqlite` },
    api: { listen: '127.0.0.1:8080', metricsListen: '127.0.0.1:9464' },
    quorum: { threshold: 1, members: [member] },
    chains: entries,
  })
  writeFileSync(
    config,
    `# Written by qantara init. Before starting: add the other members' entries to quorum.members with the quorum's
# threshold and challengeSecret (\`qantara keys new secret\`), and each chain's tokens and fee caps
# (config/example.yaml describes every field). Check it with: qantara config validate ${config}\n${yaml}`,
    // Its RPC URLs may carry API keys.
    { flag: 'wx', mode: 0o600 },
  )
  return { config, keys: join(dir, 'keys'), member, deployments: entries.map((e) => join(dir, e.deployment)) }
}

function initText(made: ReturnType<typeof init>): string[] {
  return [
    `# wrote ${made.keys} (0600 key files) and ${made.config}`,
    `# this relayer's quorum.members entry, for the other operators and the deployer:`,
    stringify([made.member]).trimEnd(),
    `# next: the deployer runs qantara deploy evm / vault init with every member's keys, writing`,
    ...made.deployments.map((d) => `#   ${d}`),
  ]
}

function parseChain(text: string): { id: string; family: SettlementFamily; rpc: string[] } {
  const at = text.indexOf('=')
  const id = at < 0 ? text : text.slice(0, at)
  const rpc = at < 0 ? [] : listOf(text.slice(at + 1))
  const family = familyOfChain(id)
  if (!family || !Object.hasOwn(FAMILIES, family))
    throw new QantaraError(
      'CONFIG_INVALID',
      `--chain ${id}: not a chain id of ${Object.keys(FAMILIES).join(', ')}`,
    )
  if (rpc.length === 0) throw new QantaraError('CONFIG_INVALID', `--chain ${id}: give its RPC URLs after =`)
  return { id, family: family as SettlementFamily, rpc }
}
