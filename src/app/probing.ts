import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import type { LoadedConfig } from './loadConfig.js'
import { readSecret, type KeySource } from '../config/keySource.js'
import { QantaraError } from '../errors.js'
import { createSafeHttp, type SafeHttpOptions } from '../http/safeHttp.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import { ProviderRegistry } from '../registry/registry.js'
import { ComputeChallenges } from '../relay/computeChallenge.js'
import { Prober } from '../relay/prober.js'
import { ProbeWorker } from '../relay/probeWorker.js'
import type { LeaderLeases, ProbeJobs } from '../store/jobs.js'
import type { Store } from '../store/store.js'

/** What a relayer process does: everything (the default), lead only (probes left to workers), or probe only. */
export type RelayerRole = 'all' | 'leader' | 'worker'
export const RELAYER_ROLES: readonly RelayerRole[] = ['all', 'leader', 'worker']

/** A store several processes of one relayer identity can share: probe jobs and the leader lease (PostgreSQL). */
export type SharedStore = Store & ProbeJobs & LeaderLeases

export function isShared(store: Store): store is SharedStore {
  return 'claimProbes' in store && 'acquireLease' in store
}

/** This process among its identity's processes: unique, and telling an operator where it runs. */
export function processHolderId(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
}

/** The prober, its compute challenges and the provider registry, as every role that probes builds them. */
export function buildProbing(loaded: LoadedConfig, store: Store, metrics: Metrics, logger: Logger) {
  const { config, identity } = loaded
  const httpOptions: SafeHttpOptions = {
    timeoutMs: config.prober.timeoutMs,
    maxBytes: config.prober.maxResponseBytes,
    allowPrivate: config.prober.allowPrivateEndpoints,
    maxSockets: config.prober.perHostConcurrency,
  }
  const http = createSafeHttp(httpOptions)
  const registry = new ProviderRegistry({
    store,
    http,
    httpOptions,
    logger: logger.child({ module: 'registry' }),
  })
  const compute = new ComputeChallenges({
    relayerId: config.relayer.id,
    identity,
    perMillion: Math.round(config.prober.computeChallengeRate * 1_000_000),
    ...(config.quorum.challengeSecret
      ? { sharedSecret: sharedSecret(config.quorum.challengeSecret, process.env, loaded.baseDir) }
      : {}),
    store,
    http,
    httpOptions,
    logger: logger.child({ module: 'compute-challenge' }),
  })
  const prober = new Prober({
    relayerId: config.relayer.id,
    identity,
    relayerKeys: new Map(config.quorum.members.map((m) => [m.id, m.identity])),
    store,
    registry,
    http,
    httpOptions,
    concurrency: config.prober.concurrency,
    perHostConcurrency: config.prober.perHostConcurrency,
    maxSkewMs: config.prober.maxSkewMs,
    metrics,
    logger: logger.child({ module: 'prober' }),
    compute,
  })
  return { http, httpOptions, registry, compute, prober }
}

/** A worker loop over the shared store's probe jobs, running each with `prober`. */
export function probeWorker(
  loaded: LoadedConfig,
  store: SharedStore,
  prober: Prober,
  logger: Logger,
): ProbeWorker {
  const { prober: p } = loaded.config
  // A checked probe sends at most five requests, each within the timeout (the heartbeat, the compute challenge and
  // its retry, the answer twice), then verifies the answer, seconds of CPU at a production size.
  const maxProbeMs = 5 * p.timeoutMs + 15_000
  return new ProbeWorker({
    jobs: store,
    probe: (job, signal) => prober.probeOnce(job.terms, job.slot, signal),
    concurrency: p.concurrency,
    // A claim outlasts a probe with room to wait for a free slot first, so no other worker takes a slot still being
    // probed; a dead worker's jobs wait no longer.
    holdMs: Math.max(30_000, maxProbeMs + 15_000),
    maxProbeMs,
    answerTimeoutMs: p.timeoutMs,
    logger: logger.child({ module: 'probe-worker' }),
  })
}

/** The quorum's challenge schedule secret: key material, read like a key and never logged. */
export function sharedSecret(source: KeySource, env: NodeJS.ProcessEnv, baseDir: string): string {
  const secret = readSecret(source, env, baseDir)
  if (secret.kind !== 'hex' || !/^(0x)?[0-9a-fA-F]{64,}$/.test(secret.value))
    throw new QantaraError(
      'KEY_UNAVAILABLE',
      'quorum.challengeSecret must be at least 32 bytes of hex (not a keystore)',
    )
  return secret.value.replace(/^0x/, '').toLowerCase()
}
