import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import { stringify } from 'yaml'
import { applyDeployments } from '../../config/deployment.js'
import { readSecret, keySourceSchema, type KeySource, type SecretMaterial } from '../../config/keySource.js'
import { ed25519FromText, generateEd25519 } from '../../ed25519.js'
import { QantaraError, errorMessage } from '../../errors.js'
import type { SettlementFamily } from '../../family.js'
import { adapterOf, deploymentFieldsOf, FAMILIES } from '../families.js'
import { applyEnvOverrides, readConfigFile } from '../loadConfig.js'
import { configSchema } from '../relayerConfig.js'
import type { CliOutput } from './output.js'

/** The keys that are not a chain family's: a relayer's identity, a provider's agent key, and the quorum's challenge secret. */
const OWN_KINDS = ['identity', 'provider', 'secret'] as const
export type KeyKind = (typeof OWN_KINDS)[number] | SettlementFamily
const KINDS: readonly KeyKind[] = [...OWN_KINDS, ...(Object.keys(FAMILIES) as SettlementFamily[])]

interface NewOptions {
  out: string
  keystore?: boolean
  passwordFile?: string
  prefix?: string
}

interface ShowOptions {
  config?: string
  file?: string
  env?: string
  keystore?: string
  passwordFile?: string
  passwordEnv?: string
  prefix?: string
}

/** `qantara keys new|show`: keys made and read as configs name them; a secret is written to its file, never printed. */
export function registerKeysCommands(program: Command, io: CliOutput): void {
  const keys = program
    .command('keys')
    .description('make keys, and print the public keys and addresses a config names, never a secret')
  keys
    .command('new')
    .description(
      `write a new key to a 0600 file and print what configs name it by (kinds: ${KINDS.join(', ')})`,
    )
    .argument('<kind>', KINDS.join(' | '))
    .requiredOption('--out <file>', 'the key file to create; an existing file is never overwritten')
    .option('--keystore', 'evm: an encrypted keystore v3 file (with --password-file), not raw hex')
    .option('--password-file <file>', 'the keystore password, in a 0600 file')
    .option(
      '--prefix <bech32>',
      "cosmos: the chain's address prefix, to print the account to fund",
      prefixOption,
    )
    .action((kind: string, o: NewOptions) => {
      const made = newKey(kindOf(kind), o, process.env)
      io.result({ file: made.file, ...made.parts }, () => [made.advice, stringify(made.parts).trimEnd()])
    })
  keys
    .command('show')
    .description('print the public parts of a key, or of every key a relayer config names')
    .argument('[kind]', KINDS.join(' | '))
    .option('--config <file>', 'a relayer config: its identity and every chain key it names')
    .option('--file <path>', 'a key file')
    .option('--env <NAME>', 'an environment variable holding the key')
    .option('--keystore <path>', 'an evm keystore v3 file')
    .option('--password-file <file>', "the keystore's password file")
    .option('--password-env <NAME>', "the environment variable holding the keystore's password")
    .option('--prefix <bech32>', "cosmos: the chain's address prefix", prefixOption)
    .action((kind: string | undefined, o: ShowOptions) => {
      if (o.config) {
        const shown = showConfigKeys(o.config, process.env)
        return io.result(shown, () => [
          `# ${shown.config}: relayer ${shown.member.id}, as its quorum.members entry names it`,
          stringify([shown.member]).trimEnd(),
          ...shown.notes.map((n) => `# ${n}`),
        ])
      }
      if (!kind) throw new QantaraError('CONFIG_INVALID', 'name a key kind, or give --config')
      const parts = showKey(kindOf(kind), sourceOf(o), o.prefix, process.env)
      io.result(parts, () => stringify(parts).trimEnd())
    })
}

/** A bech32 prefix as Cosmos chains write theirs; refused here, where the flag is named, not deep in an encoder. */
function prefixOption(text: string): string {
  if (!/^[a-z0-9]{1,83}$/.test(text))
    throw new InvalidArgumentError('a bech32 prefix is lower-case letters and digits, e.g. cosmos')
  return text
}

function isOwnKind(kind: KeyKind): kind is (typeof OWN_KINDS)[number] {
  return (OWN_KINDS as readonly string[]).includes(kind)
}

function kindOf(text: string): KeyKind {
  if ((KINDS as readonly string[]).includes(text)) return text as KeyKind
  throw new QantaraError('CONFIG_INVALID', `unknown key kind ${text}; one of ${KINDS.join(', ')}`)
}

function sourceOf(o: ShowOptions): KeySource {
  const parsed = keySourceSchema.safeParse({
    env: o.env,
    file: o.file,
    keystore: o.keystore,
    passwordFile: o.passwordFile,
    passwordEnv: o.passwordEnv,
  })
  if (!parsed.success)
    throw new QantaraError('CONFIG_INVALID', parsed.error.issues.map((i) => i.message).join('; '))
  return parsed.data
}

/** A key just made: its file, what to do with it, and what configs name it by. */
export interface NewKey {
  file: string
  advice: string
  parts: Record<string, unknown>
}

/** Creates the key file (0600, never over an existing one); returns what configs name it by, never the secret. */
export function newKey(kind: KeyKind, o: NewOptions, env: NodeJS.ProcessEnv): NewKey {
  const family = isOwnKind(kind) ? undefined : adapterOf(kind).keys
  if (o.keystore && !family?.keystore)
    throw new QantaraError('CONFIG_INVALID', `--keystore: ${kind} keys are not kept in keystore files`)
  if (Boolean(o.keystore) !== Boolean(o.passwordFile))
    throw new QantaraError('CONFIG_INVALID', '--keystore and --password-file (a 0600 file) go together')
  const path = resolve(o.out)
  const secret = family
    ? family.generate()
    : kind === 'secret'
      ? `0x${randomBytes(32).toString('hex')}`
      : generateEd25519().seed
  let material: SecretMaterial = { kind: 'hex', value: secret }
  let source: KeySource = { file: path }
  if (o.keystore) {
    const password = readSecret({ file: o.passwordFile! }, env, process.cwd())
    if (password.kind !== 'hex' || password.value === '')
      throw new QantaraError('KEY_UNAVAILABLE', 'the password file is empty')
    material = { kind: 'keystore', json: family!.keystore!(secret, password.value), password: password.value }
    source = { keystore: path, passwordFile: resolve(o.passwordFile!) }
  }
  // Worked out before the file is written: a bad option (a prefix) leaves no key behind that nobody was told of.
  const parts = publicYaml(kind, source, material, o.prefix)
  create(path, material.kind === 'keystore' ? material.json : secret)
  return {
    file: path,
    advice:
      kind === 'secret'
        ? `# wrote ${path} (0600): give it to the quorum's other members over a private channel, never to a provider`
        : `# wrote ${path} (0600): the secret stays in that file; back it up, never share it`,
    parts,
  }
}

/** A key's public parts, as configs name them. */
export function showKey(
  kind: KeyKind,
  source: KeySource,
  prefix: string | undefined,
  env: NodeJS.ProcessEnv,
): Record<string, unknown> {
  return publicYaml(kind, source, readSecret(source, env, process.cwd()), prefix)
}

/**
 * Every key a relayer config names, read one by one: an operator learns its
 * public keys here before they are in the quorum, so a key that does not
 * match its member is shown, with the mismatch, not refused.
 */
export function showConfigKeys(
  path: string,
  env: NodeJS.ProcessEnv,
): { config: string; member: Record<string, string>; notes: string[] } {
  const baseDir = dirname(resolve(path))
  // A record not deployed yet leaves its fields out, and the parse below says so.
  const parsed = configSchema.safeParse(
    applyDeployments(applyEnvOverrides(readConfigFile(path), env, configSchema), baseDir, deploymentFieldsOf)
      .raw,
  )
  if (!parsed.success)
    throw new QantaraError(
      'CONFIG_INVALID',
      `${path} is not a valid relayer config; run qantara config validate`,
    )
  const config = parsed.data
  const self = config.quorum.members.find((m) => m.id === config.relayer.id)
  const member: Record<string, string> = {}
  const notes: string[] = []
  try {
    member.identity = ed25519FromText(hexOf(readSecret(config.relayer.identityKey, env, baseDir))).publicKey
  } catch (err) {
    notes.push(`relayer.identityKey: ${errorMessage(err)}`)
  }
  config.chains.forEach((chain, i) => {
    const keys = adapterOf(chain.family).keys
    try {
      const parts = keys.publicParts(readSecret(chain.key, env, baseDir), keys.prefix?.(chain))
      member[keys.memberField] = parts.member
      if (parts.account) notes.push(`${chain.id}: fund ${parts.account}`)
    } catch (err) {
      notes.push(`chains.${i}.key: ${errorMessage(err)}`)
    }
  })
  for (const [field, value] of Object.entries(member)) {
    const listed = self?.[field as keyof typeof self]
    if (listed !== value)
      notes.push(`quorum member ${config.relayer.id} lists ${field} ${listed ?? '(none)'}: not this key's`)
  }
  return { config: path, member: { id: config.relayer.id, ...member }, notes }
}

/** The config fields that name a key: where it is read from, and its public parts. */
function publicYaml(
  kind: KeyKind,
  source: KeySource,
  material: SecretMaterial,
  prefix: string | undefined,
): Record<string, unknown> {
  if (kind === 'identity') {
    const identity = ed25519FromText(hexOf(material)).publicKey
    return { relayer: { identityKey: source }, 'quorum.members[]': { identity } }
  }
  // Shared by the quorum's members alone: nothing public to print, only where the config reads it.
  if (kind === 'secret') return { quorum: { challengeSecret: source } }
  if (kind === 'provider') {
    const providerId = ed25519FromText(hexOf(material)).publicKey
    return { 'agent config': { key: source }, providerId }
  }
  const keys = adapterOf(kind).keys
  const { member, account } = keys.publicParts(material, prefix)
  return {
    'chains[]': { key: source },
    'quorum.members[]': { [keys.memberField]: member },
    ...(account ? { account } : {}),
  }
}

function hexOf(material: SecretMaterial): string {
  if (material.kind !== 'hex')
    throw new QantaraError(
      'KEY_UNAVAILABLE',
      'an ed25519 key is read from { env } or { file }, not a keystore',
    )
  return material.value
}

/** Writes a new secret file: owner-only from its first byte, and never over a file that exists. */
function create(path: string, text: string): void {
  try {
    writeFileSync(path, `${text}\n`, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    throw new QantaraError(
      'KEY_UNAVAILABLE',
      (err as NodeJS.ErrnoException).code === 'EEXIST'
        ? `${path} exists: a key file is never overwritten; choose another --out`
        : `cannot create ${path}: ${errorMessage(err)}`,
    )
  }
}
