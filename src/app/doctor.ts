import { accessSync, constants, existsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { EsploraClient } from '../../adapters/bitcoin/esplora.js'
import { check, ok, problem } from '../doctor/checks.js'
import type { DoctorCheck } from '../family.js'
import { redactUrl, redactUrls } from '../http/redactUrl.js'
import { probePeer } from '../peer/reachability.js'
import { openStore } from '../store/open.js'
import { bitcoinRpc } from './bitcoin.js'
import { chainDoctor } from './families.js'
import { applyEnvOverrides, inspectConfig, readConfigFile, type LoadedConfig } from './loadConfig.js'
import { configSchema } from './relayerConfig.js'
import { readDeploymentRecord, type DeploymentRecord } from '../config/deployment.js'
import { sharedSecret } from './probing.js'

/**
 * `qantara doctor --config`: what the relayer would meet on starting, checked
 * online, one line each (ok, warn or problem, and what to do). Nothing is
 * sent to a chain. 0 when nothing is a problem, 1 otherwise.
 */
export async function doctor(
  path: string,
  env: NodeJS.ProcessEnv,
  out: (line: string) => void,
): Promise<number> {
  const checks = await doctorChecks(path, env)
  for (const line of doctorText(path, checks)) out(line)
  return checks.some((c) => c.level === 'problem') ? 1 : 0
}

/** The checks for people: one line each, its fix under it, and the counts. */
export function doctorText(path: string, checks: DoctorCheck[]): string[] {
  const lines: string[] = []
  const width = Math.max(...checks.map((c) => c.subject.length))
  for (const c of checks) {
    lines.push(`${c.level.padEnd(7)} ${c.subject.padEnd(width)}  ${c.detail}`)
    if (c.fix && c.level !== 'ok') lines.push(`${' '.repeat(8)}${' '.repeat(width)}  fix: ${c.fix}`)
  }
  const count = (level: DoctorCheck['level']) => checks.filter((c) => c.level === level).length
  lines.push(`${path}: ${count('ok')} ok, ${count('warn')} warning(s), ${count('problem')} problem(s)`)
  return lines
}

/** Every check `doctor` prints, in its order; a config that does not load is one problem per field. */
export async function doctorChecks(path: string, env: NodeJS.ProcessEnv): Promise<DoctorCheck[]> {
  const { loaded, problems } = inspectConfig(path, env)
  return loaded
    ? await onlineChecks(loaded, env, deploymentRecords(path, env, loaded.baseDir))
    : problems.map((p) => ({
        subject: `config ${p.path}`,
        level: 'problem' as const,
        detail: redactUrls(p.message),
        fix: `edit ${path}; \`qantara config validate\` lists the same`,
      }))
}

/** The deployment record each chain entry names, as the file and its environment overrides name it. */
function deploymentRecords(
  path: string,
  env: NodeJS.ProcessEnv,
  baseDir: string,
): (DeploymentRecord | undefined)[] {
  const raw = applyEnvOverrides(readConfigFile(path), env, configSchema) as { chains?: unknown }
  return (Array.isArray(raw.chains) ? (raw.chains as unknown[]) : []).map((c) => {
    const named = (c as { deployment?: unknown } | null)?.deployment
    if (typeof named !== 'string') return undefined
    try {
      return readDeploymentRecord(resolve(baseDir, named))
    } catch {
      return undefined
    }
  })
}

async function onlineChecks(
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv,
  records: (DeploymentRecord | undefined)[],
): Promise<DoctorCheck[]> {
  const { config, signers } = loaded
  const checks: DoctorCheck[] = [await storeCheck(loaded, env)]
  if (config.quorum.challengeSecret)
    checks.push(
      await check('quorum.challengeSecret', () => {
        sharedSecret(config.quorum.challengeSecret!, env, loaded.baseDir)
        return Promise.resolve(ok('readable, 32 bytes or more'))
      }),
    )
  checks.push(...(await peerChecks(loaded)))
  const quorum = { threshold: config.quorum.threshold, members: config.quorum.members }
  for (const [i, chain] of config.chains.entries())
    checks.push(...(await chainDoctor(chain, signers[i]!, quorum, records[i])))
  if (config.bitcoin) checks.push(await bitcoinCheck(loaded, env))
  return checks
}

async function storeCheck(loaded: LoadedConfig, env: NodeJS.ProcessEnv): Promise<DoctorCheck> {
  const { store } = loaded.config
  if (store.path !== undefined) {
    const path = store.path
    return check(`store ${path}`, () => {
      // The folder is created when missing: the nearest existing one must take a new file.
      let dir = existsSync(path) ? path : dirname(path)
      while (!existsSync(dir)) dir = dirname(dir)
      try {
        accessSync(dir, constants.W_OK)
      } catch {
        return Promise.resolve(problem(`${dir} is not writable by this user`, `chown or chmod ${dir}`))
      }
      return Promise.resolve(ok(existsSync(path) ? 'exists and is writable' : 'will be created'))
    })
  }
  return check(
    'store postgres',
    async () => {
      const opened = await openStore(store, env)
      await opened.close()
      return ok('reachable, migrations applied')
    },
    'check store.postgres: the URL, the password in its environment variable, and that the server takes connections',
  )
}

/** Each peer with a URL, asked for a sealed page: reachable, and signing with the identity quorum.members gives it. */
async function peerChecks(loaded: LoadedConfig): Promise<DoctorCheck[]> {
  const { config } = loaded
  const peers = config.quorum.members.filter((m) => m.id !== config.relayer.id && m.url)
  return Promise.all(
    peers.map((peer) =>
      check(
        `peer ${peer.id} ${redactUrl(peer.url!)}`,
        async () => {
          const probe = await probePeer({ id: peer.id, url: peer.url!, identity: peer.identity })
          if (probe.reachable) return ok(`reachable, sealed by its identity`)
          if (probe.kind === 'unreachable') throw new Error(probe.error)
          return probe.kind === 'http'
            ? problem(probe.error, "check the URL points at the peer relayer's API port")
            : problem(
                probe.error,
                `ask ${peer.id}'s operator for its identity (\`qantara keys show --config\`) and its relayer id`,
              )
        },
        `check that ${peer.id} runs and that its API is reachable from here`,
      ),
    ),
  )
}

async function bitcoinCheck(loaded: LoadedConfig, env: NodeJS.ProcessEnv): Promise<DoctorCheck> {
  const b = loaded.config.bitcoin!
  return check(
    `bitcoin ${b.network}`,
    async () => {
      const source = b.rpc ? bitcoinRpc(b.rpc, env, loaded.baseDir) : new EsploraClient(b.esplora!)
      const height = await source.getBlockCount()
      return height < b.startHeight
        ? problem(
            `the source is at block ${height}, before bitcoin.startHeight ${b.startHeight}`,
            'wait for the node to sync, or lower startHeight',
          )
        : ok(`the source is at block ${height}`)
    },
    'check bitcoin.rpc (URL, user, password) or bitcoin.esplora',
  )
}
