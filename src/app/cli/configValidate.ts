import { dirname, resolve } from 'node:path'
import { readSecret } from '../../config/keySource.js'
import { ed25519FromText } from '../../ed25519.js'
import { errorMessage, isQantaraError } from '../../errors.js'
import { silentLogger } from '../../log.js'
import { loadAgentConfig } from '../agent.js'
import { adapterOf } from '../families.js'
import { inspectConfig, readConfigFile } from '../loadConfig.js'
import { buildSolverParts, loadSolverConfig } from '../solver.js'

export const CONFIG_KINDS = ['relayer', 'agent', 'solver'] as const
export type ConfigKind = (typeof CONFIG_KINDS)[number]

/** What `config validate` found: `--json` prints it as it is. */
export interface ConfigReport {
  file: string
  kind: ConfigKind | null
  valid: boolean
  /** Each problem, with the path of its field. */
  problems: string[]
  /** A valid config's summary, then one fact a line. */
  summary: string | null
  details: string[]
  warnings: string[]
}

/**
 * `qantara config validate <file>`: prints every problem with its path; 0 when
 * valid, 1 when not. The kind is read from the file's top-level fields unless
 * given: a relayer's has `relayer`, a solver's `btcKey`, an agent's `prices`.
 */
export function configValidate(
  file: string,
  env: NodeJS.ProcessEnv,
  out: (line: string) => void,
  kind?: ConfigKind,
): number {
  const report = configReport(file, env, kind)
  for (const line of configReportText(report)) out(line)
  return report.valid ? 0 : 1
}

export function configReport(file: string, env: NodeJS.ProcessEnv, kind?: ConfigKind): ConfigReport {
  let which = kind
  if (!which) {
    try {
      which = kindOf(readConfigFile(file))
    } catch (err) {
      return failed(file, null, [`(file): ${errorMessage(err)}`])
    }
    if (!which) return failed(file, null, ['(root): not a relayer, agent or solver config; give --kind'])
  }
  if (which === 'agent') return validateAgent(file, env)
  if (which === 'solver') return validateSolver(file, env)
  return validateRelayer(file, env)
}

export function configReportText(r: ConfigReport): string[] {
  if (!r.valid) return [`${r.file}: ${r.problems.length} problem(s)`, ...r.problems.map((p) => `  ${p}`)]
  return [
    `${r.file}: valid ${r.kind ?? ''} config — ${r.summary ?? ''}`,
    ...r.details.map((d) => `  ${d}`),
    ...r.warnings.map((w) => `  warning: ${w}`),
    ...(r.kind === 'relayer'
      ? [`  online checks (RPCs, contracts, funds, peers): qantara doctor --config ${r.file}`]
      : []),
  ]
}

function kindOf(raw: unknown): ConfigKind | undefined {
  const has = (field: string) => typeof raw === 'object' && raw !== null && field in raw
  return has('relayer') ? 'relayer' : has('btcKey') ? 'solver' : has('prices') ? 'agent' : undefined
}

function failed(file: string, kind: ConfigKind | null, problems: string[]): ConfigReport {
  return { file, kind, valid: false, problems, summary: null, details: [], warnings: [] }
}

function valid(
  file: string,
  kind: ConfigKind,
  summary: string,
  details: string[],
  warnings: string[] = [],
): ConfigReport {
  return { file, kind, valid: true, problems: [], summary, details, warnings }
}

/** A load's error as problem lines: a schema's are listed one per field. */
function problemsOf(err: unknown): string[] {
  if (isQantaraError(err, 'CONFIG_INVALID') && err.metaMessages.length)
    return err.metaMessages.map((m) => m.trim())
  const hints = isQantaraError(err) ? err.metaMessages.map((m) => ` (${m.trim()})`).join('') : ''
  return [`(config): ${errorMessage(err)}${hints}`]
}

function validateRelayer(file: string, env: NodeJS.ProcessEnv): ConfigReport {
  const { loaded, problems } = inspectConfig(file, env)
  if (!loaded)
    return failed(
      file,
      'relayer',
      problems.map((p) => `${p.path}: ${p.message}`),
    )
  const { config, signers } = loaded
  return valid(
    file,
    'relayer',
    `relayer ${config.relayer.id}, ${config.chains.length} chain(s), threshold ${config.quorum.threshold} of ${config.quorum.members.length}`,
    config.chains.map((c, i) => {
      const adapter = adapterOf(c.family)
      return `${c.id} (${c.family}): ${adapter.custody} ${adapter.custodian(c)}, signer ${signers[i]?.address ?? '?'}`
    }),
    config.chains.flatMap((c) => adapterOf(c.family).configWarnings(c)),
  )
}

function validateAgent(file: string, env: NodeJS.ProcessEnv): ConfigReport {
  try {
    const config = loadAgentConfig(file, env)
    const providerId = ed25519FromText(
      secretText(readSecret(config.key, env, dirname(resolve(file)))),
    ).publicKey
    return valid(file, 'agent', `provider ${providerId}`, [
      `announces to ${config.relayers.length} relayer(s), prices on ${new Set(config.prices.map((p) => p.chain)).size} chain(s)`,
    ])
  } catch (err) {
    return failed(file, 'agent', problemsOf(err))
  }
}

function validateSolver(file: string, env: NodeJS.ProcessEnv): ConfigReport {
  try {
    const { config, baseDir } = loadSolverConfig(file, env)
    const parts = buildSolverParts(config, env, baseDir, silentLogger())
    return valid(
      file,
      'solver',
      `pays from ${parts.wallet.address} on Bitcoin ${config.bitcoin.network}`,
      parts.chains.map((c) => `${c.chain}: quotes as ${c.address}`),
    )
  } catch (err) {
    return failed(file, 'solver', problemsOf(err))
  }
}

function secretText(m: ReturnType<typeof readSecret>): string {
  if (m.kind !== 'hex') throw new Error('the provider key is read from { env } or { file }, not a keystore')
  return m.value
}
