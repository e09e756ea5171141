import { readFileSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import type { z } from 'zod'
import { QantaraError, errorMessage } from '../errors.js'
import { deploymentFieldsOf, loadChainSigner, memberKeyProblem, type ChainSigner } from './families.js'
import { configSchema, type RelayerConfig } from './relayerConfig.js'
import { fieldNames } from '../config/fieldNames.js'
import { ed25519FromText, type Ed25519Signer } from '../ed25519.js'
import { readSecret } from '../config/keySource.js'
import { applyDeployments } from '../config/deployment.js'

const MAX_CONFIG_BYTES = 1024 * 1024
const ENV_PREFIX = 'QANTARA__'

export interface ConfigProblem {
  path: string
  message: string
}

export interface LoadedConfig {
  config: RelayerConfig
  /** Folder relative paths in the config are resolved against. */
  baseDir: string
  signers: ChainSigner[]
  identity: Ed25519Signer
}

export function readConfigFile(path: string): unknown {
  let size: number
  try {
    size = statSync(path).size
  } catch (cause) {
    throw new QantaraError('CONFIG_UNREADABLE', `cannot read config file ${path}`, {
      cause,
      details: errorMessage(cause),
    })
  }
  if (size > MAX_CONFIG_BYTES)
    throw new QantaraError(
      'CONFIG_UNREADABLE',
      `config file ${path} is ${size} bytes; the limit is ${MAX_CONFIG_BYTES}`,
    )
  try {
    return parseYaml(readFileSync(path, 'utf8'), { maxAliasCount: 100 }) as unknown
  } catch (cause) {
    // The parser's message starts with what is wrong and where; its code frame below repeats the file's lines.
    const at = (cause as { linePos?: { line: number; col: number }[] }).linePos?.[0]
    const what = errorMessage(cause)
      .split('\n')[0]!
      .replace(/ at line \d+, column \d+:?$/, '')
    throw new QantaraError(
      'CONFIG_UNREADABLE',
      `config file ${path} is not valid YAML${at ? ` at line ${at.line}, column ${at.col}` : ''}: ${what}`,
      { cause },
    )
  }
}

/**
 * Environment overrides the file: QANTARA__STORE__PATH=/data/q.sqlite sets
 * store.path, QANTARA__CHAINS__0__CONFIRMATIONS=20 sets chains[0].confirmations.
 * Segments match existing keys case-insensitively, ignoring underscores;
 * values are read as YAML scalars so numbers stay numbers.
 */
export function applyEnvOverrides(raw: unknown, env: NodeJS.ProcessEnv, schema: z.ZodType): unknown {
  const root: unknown = structuredClone(raw ?? {})
  // The schema's field names match overrides of fields the file leaves to their defaults (api.metricsListen).
  const known = [...fieldNames(schema)]
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue
    const segments = name.slice(ENV_PREFIX.length).split('__').filter(Boolean)
    let node = root as Record<string, unknown>
    for (const [i, segment] of segments.entries()) {
      const key = matchKey(node, segment, known)
      if (i === segments.length - 1) {
        node[key] = envValue(value)
      } else {
        if (typeof node[key] !== 'object' || node[key] === null) node[key] = {}
        node = node[key] as Record<string, unknown>
      }
    }
  }
  return root
}

/**
 * An override's value, read as YAML so that numbers, booleans and lists keep
 * their type, except a number YAML reads out of something else: `0x…` is an
 * address, not a hex integer, and a long integer (a block, an amount) must not
 * lose digits to a float; both stay text, which the schema reads exactly.
 */
function envValue(text: string): unknown {
  const value = parseYaml(text) as unknown
  return typeof value === 'number' && !/^-?\d{1,15}(\.\d+)?$/.test(text.trim()) ? text.trim() : value
}

function matchKey(node: Record<string, unknown>, segment: string, known: readonly string[]): string {
  const norm = (s: string) => s.replace(/_/g, '').toLowerCase()
  return (
    Object.keys(node).find((k) => norm(k) === norm(segment)) ??
    known.find((k) => norm(k) === norm(segment)) ??
    segment.toLowerCase()
  )
}

export function schemaProblems(error: z.ZodError): ConfigProblem[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join('.') || '(root)',
    message: issue.message,
  }))
}

/**
 * What a process of the relayer identity unlocks: `all` its keys; `identity`
 * only its identity key, for a probe worker, which never writes to a chain, so
 * a worker host need not hold (and cannot leak) the keys that move funds.
 */
export type KeyScope = 'all' | 'identity'

/** Resolves the keys in `scope` and checks each against the quorum config; collects, never throws. */
export function keyProblems(
  config: RelayerConfig,
  env: NodeJS.ProcessEnv,
  baseDir: string,
  scope: KeyScope = 'all',
): { signers: ChainSigner[]; identity?: Ed25519Signer; problems: ConfigProblem[] } {
  const signers: ChainSigner[] = []
  const problems: ConfigProblem[] = []
  const self = config.quorum.members.find((m) => m.id === config.relayer.id)
  let identity: Ed25519Signer | undefined
  try {
    const secret = readSecret(config.relayer.identityKey, env, baseDir)
    if (secret.kind !== 'hex')
      throw new QantaraError(
        'KEY_UNAVAILABLE',
        'an identity key cannot be a keystore; use a 0600 file or an env variable',
      )
    identity = ed25519FromText(secret.value)
    if (self && self.identity !== identity.publicKey)
      problems.push({
        path: 'relayer.identityKey',
        message: `the key's public key ${identity.publicKey} is not quorum member ${self.id}'s identity ${self.identity}`,
      })
  } catch (err) {
    problems.push({ path: 'relayer.identityKey', message: errorMessage(err) })
  }
  if (scope === 'all')
    config.chains.forEach((chain, i) => {
      try {
        const signer = loadChainSigner(chain, env, baseDir)
        signers.push(signer)
        const problem = self && memberKeyProblem(chain, signer, self)
        if (problem) problems.push({ path: `chains.${i}.key`, message: problem })
      } catch (err) {
        problems.push({ path: `chains.${i}.key`, message: errorMessage(err) })
      }
    })
  return { signers, identity, problems }
}

/** Reads, overrides, validates and unlocks a config; every problem found is reported at once. */
export function inspectConfig(
  path: string,
  env: NodeJS.ProcessEnv,
  scope: KeyScope = 'all',
): { loaded?: LoadedConfig; problems: ConfigProblem[] } {
  const baseDir = dirname(resolve(path))
  let raw: unknown
  try {
    raw = applyEnvOverrides(readConfigFile(path), env, configSchema)
  } catch (err) {
    return { problems: [{ path: '(file)', message: errorMessage(err) }] }
  }
  const deployed = applyDeployments(raw, baseDir, deploymentFieldsOf)
  if (deployed.problems.length) return { problems: deployed.problems }
  const parsed = configSchema.safeParse(deployed.raw)
  if (!parsed.success) return { problems: schemaProblems(parsed.error) }
  const { store } = parsed.data
  const config = {
    ...parsed.data,
    store: store.path !== undefined ? { ...store, path: resolve(baseDir, store.path) } : store,
  }
  const { signers, identity, problems } = keyProblems(config, env, baseDir, scope)
  return problems.length || !identity
    ? { problems }
    : { loaded: { config, baseDir, signers, identity }, problems }
}

export function loadConfig(path: string, env: NodeJS.ProcessEnv, scope: KeyScope = 'all'): LoadedConfig {
  const { loaded, problems } = inspectConfig(path, env, scope)
  if (!loaded) {
    throw new QantaraError('CONFIG_INVALID', `config ${path} has ${problems.length} problem(s)`, {
      metaMessages: problems.map((p) => `  ${p.path}: ${p.message}`),
    })
  }
  return loaded
}
