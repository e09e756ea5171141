import { accessSync, constants, existsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { EsploraClient } from '../../adapters/bitcoin/esplora.js'
import { check, ok, problem } from '../doctor/checks.js'
import type { DoctorCheck } from '../family.js'
import { boundedFetch } from '../http/boundedFetch.js'
import { redactUrl, redactUrls } from '../http/redactUrl.js'
import { openEnvelope } from '../peer/envelope.js'
import { openStore } from '../store/open.js'
import { bitcoinRpc } from './bitcoin.js'
import { chainDoctor } from './families.js'
import { applyEnvOverrides, inspectConfig, readConfigFile, type LoadedConfig } from './loadConfig.js'
import { configSchema } from './relayerConfig.js'
import { readDeploymentRecord, type DeploymentRecord } from '../config/deployment.js'
import { sharedSecret } from './probing.js'

/** How old a peer's sealed answer may be. */
const PEER_ANSWER_MAX_AGE_MS = 5 * 60_000
const PEER_TIMEOUT_MS = 5_000
/** An order id nobody holds: a peer answers it with an empty, sealed page. */
const NO_ORDER = `0x${'0'.repeat(64)}`

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
  const { loaded, problems } = inspectConfig(path, env)
  const checks: DoctorCheck[] = loaded
    ? await onlineChecks(loaded, env, deploymentRecords(path, env, loaded.baseDir))
    : problems.map((p) => ({
        subject: `config ${p.path}`,
        level: 'problem' as const,
        detail: redactUrls(p.message),
        fix: `edit ${path}; \`qantara config validate\` lists the same`,
      }))
  const width = Math.max(...checks.map((c) => c.subject.length))
  for (const c of checks) {
    out(`${c.level.padEnd(7)} ${c.subject.padEnd(width)}  ${c.detail}`)
    if (c.fix && c.level !== 'ok') out(`${' '.repeat(8)}${' '.repeat(width)}  fix: ${c.fix}`)
  }
  const count = (level: DoctorCheck['level']) => checks.filter((c) => c.level === level).length
  out(`${path}: ${count('ok')} ok, ${count('warn')} warning(s), ${count('problem')} problem(s)`)
  return count('problem') > 0 ? 1 : 0
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
  const keys = new Map(config.quorum.members.map((m) => [m.id, m.identity]))
  const fetchPeer = boundedFetch(1024 * 1024)
  const peers = config.quorum.members.filter((m) => m.id !== config.relayer.id && m.url)
  return Promise.all(
    peers.map((peer) =>
      check(
        `peer ${peer.id} ${redactUrl(peer.url!)}`,
        async () => {
          const res = await fetchPeer(`${peer.url}/v1/peer/heartbeats?order=${NO_ORDER}`, {
            signal: AbortSignal.timeout(PEER_TIMEOUT_MS),
          })
          if (res.status !== 200)
            return problem(
              `answers HTTP ${res.status}`,
              "check the URL points at the peer relayer's API port",
            )
          const body: unknown = await res.json().catch(() => undefined)
          if (openEnvelope('heartbeats', body, peer.id, keys, PEER_ANSWER_MAX_AGE_MS) === undefined)
            return problem(
              `its answer is not sealed by ${peer.id}'s identity ${peer.identity} (or its clock is more than 5 minutes off)`,
              `ask ${peer.id}'s operator for its identity (\`qantara keys show --config\`) and its relayer id`,
            )
          return ok(`reachable, sealed by its identity`)
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
