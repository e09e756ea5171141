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
  let which = kind
  if (!which) {
    try {
      which = kindOf(readConfigFile(file))
    } catch (err) {
      return failed(file, [`(file): ${errorMessage(err)}`], out)
    }
    if (!which) return failed(file, ['(root): not a relayer, agent or solver config; give --kind'], out)
  }
  if (which === 'agent') return validateAgent(file, env, out)
  if (which === 'solver') return validateSolver(file, env, out)
  return validateRelayer(file, env, out)
}

function kindOf(raw: unknown): ConfigKind | undefined {
  const has = (field: string) => typeof raw === 'object' && raw !== null && field in raw
  return has('relayer') ? 'relayer' : has('btcKey') ? 'solver' : has('prices') ? 'agent' : undefined
}

function failed(file: string, problems: string[], out: (line: string) => void): number {
  out(`${file}: ${problems.length} problem(s)`)
  for (const p of problems) out(`  ${p}`)
  return 1
}

/** A load's error as problem lines: a schema's are listed one per field. */
function problemsOf(err: unknown): string[] {
  if (isQantaraError(err, 'CONFIG_INVALID') && err.metaMessages.length)
    return err.metaMessages.map((m) => m.trim())
  const hints = isQantaraError(err) ? err.metaMessages.map((m) => ` (${m.trim()})`).join('') : ''
  return [`(config): ${errorMessage(err)}${hints}`]
}

function validateRelayer(file: string, env: NodeJS.ProcessEnv, out: (line: string) => void): number {
  const { loaded, problems } = inspectConfig(file, env)
  if (!loaded)
    return failed(
      file,
      problems.map((p) => `${p.path}: ${p.message}`),
      out,
    )
  const { config, signers } = loaded
  out(
    `${file}: valid relayer config — relayer ${config.relayer.id}, ${config.chains.length} chain(s), threshold ${config.quorum.threshold} of ${config.quorum.members.length}`,
  )
  config.chains.forEach((c, i) => {
    const adapter = adapterOf(c.family)
    out(
      `  ${c.id} (${c.family}): ${adapter.custody} ${adapter.custodian(c)}, signer ${signers[i]?.address ?? '?'}`,
    )
  })
  for (const c of config.chains)
    for (const warning of adapterOf(c.family).configWarnings(c)) out(`  warning: ${warning}`)
  out('  online checks (RPCs, contracts, funds, peers): qantara doctor --config ' + file)
  return 0
}

function validateAgent(file: string, env: NodeJS.ProcessEnv, out: (line: string) => void): number {
  try {
    const config = loadAgentConfig(file, env)
    const providerId = ed25519FromText(
      secretText(readSecret(config.key, env, dirname(resolve(file)))),
    ).publicKey
    out(`${file}: valid agent config — provider ${providerId}`)
    out(
      `  announces to ${config.relayers.length} relayer(s), prices on ${new Set(config.prices.map((p) => p.chain)).size} chain(s)`,
    )
    return 0
  } catch (err) {
    return failed(file, problemsOf(err), out)
  }
}

function validateSolver(file: string, env: NodeJS.ProcessEnv, out: (line: string) => void): number {
  try {
    const { config, baseDir } = loadSolverConfig(file, env)
    const parts = buildSolverParts(config, env, baseDir, silentLogger())
    out(
      `${file}: valid solver config — pays from ${parts.wallet.address} on Bitcoin ${config.bitcoin.network}`,
    )
    for (const c of parts.chains) out(`  ${c.chain}: quotes as ${c.address}`)
    return 0
  } catch (err) {
    return failed(file, problemsOf(err), out)
  }
}

function secretText(m: ReturnType<typeof readSecret>): string {
  if (m.kind !== 'hex') throw new Error('the provider key is read from { env } or { file }, not a keystore')
  return m.value
}
