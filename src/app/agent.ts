import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { abortableDelay } from '../abort.js'
import { readConfigFile, applyEnvOverrides, schemaProblems } from './loadConfig.js'
import { readSecret } from '../config/keySource.js'
import { canonicalJson } from '../canonicalJson.js'
import { ed25519FromText } from '../ed25519.js'
import { boundedFetch } from '../http/boundedFetch.js'
import { QantaraError } from '../errors.js'
import type { Logger } from '../log.js'
import { agentConfigSchema, type AgentConfig } from '../agent/config.js'
import { ProviderAgent } from '../agent/server.js'
import { cachedTelemetry, readGpuTelemetry } from '../agent/telemetry.js'
import { GpuHelper } from '../agent/gpuHelper.js'
import { createAgentMetrics, type AgentMetrics } from '../agent/metrics.js'
import { createMetricsServer } from '../api/metricsServer.js'
import { cpuReferenceProver, helperProver, type ComputeProver } from '../agent/prover.js'

export function loadAgentConfig(path: string, env: NodeJS.ProcessEnv): AgentConfig {
  const parsed = agentConfigSchema.safeParse(applyEnvOverrides(readConfigFile(path), env, agentConfigSchema))
  if (!parsed.success) {
    throw new QantaraError('CONFIG_INVALID', `agent config ${path} is invalid`, {
      metaMessages: schemaProblems(parsed.error).map((p) => `  ${p.path}: ${p.message}`),
    })
  }
  return parsed.data
}

export interface RunningAgent {
  agent: ProviderAgent
  url: string
  done: Promise<void>
}

/**
 * The agent's prover, with one GPU helper per GPU. A helper that cannot start
 * (no PyTorch, no CUDA, a failed self-test) is logged and the agent runs
 * without any: heartbeats still go, and the challenged slots are lost, which
 * the log says.
 */
async function startProver(
  config: AgentConfig,
  gpus: number,
  logger: Logger,
): Promise<{ prover: ComputeProver; close?: () => Promise<void> } | undefined> {
  if (config.prover === 'none') return undefined
  if (config.prover === 'cpu-reference') {
    logger.warn('prover: the CPU reference, which only the devnet and tests accept')
    return { prover: cpuReferenceProver() }
  }
  // One helper per GPU, each seeing only its own: an order's products run side by side, one per GPU.
  const started = await Promise.allSettled(
    Array.from({ length: Math.max(1, gpus) }, (_, device) =>
      GpuHelper.start({ backend: 'torch', ...config.gpuHelper, ...(gpus > 1 ? { device } : {}) }),
    ),
  )
  const helpers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value.helper] : []))
  const close = async () => void (await Promise.all(helpers.map((h) => h.close())))
  const failed = started.find((s) => s.status === 'rejected')
  if (failed) {
    await close()
    logger.error(
      { err: (failed.reason as Error).message },
      'GPU helper did not start: compute challenges go unanswered and those slots are not paid',
    )
    return undefined
  }
  for (const s of started) if (s.status === 'fulfilled') logger.info(s.value.info, 'GPU helper started')
  return { prover: helperProver(helpers), close }
}

/** Starts the provider agent and keeps its record announced to the configured relayers. */
export async function startAgent(
  path: string,
  env: NodeJS.ProcessEnv,
  logger: Logger,
  signal: AbortSignal,
): Promise<RunningAgent> {
  const config = loadAgentConfig(path, env)
  const baseDir = dirname(resolve(path))
  const secret = readSecret(config.key, env, baseDir)
  if (secret.kind !== 'hex')
    throw new QantaraError(
      'KEY_UNAVAILABLE',
      'the provider key cannot be a keystore; use a 0600 file or an env variable',
    )
  const signer = ed25519FromText(secret.value)
  const first = await readGpuTelemetry(config.nvidiaSmi)
  if (first.gpus === null)
    logger.warn({ reason: first.unavailable }, 'no GPU telemetry; heartbeats will say why')
  if (!config.relayerKeys)
    logger.warn(
      { field: 'relayerKeys' },
      "any relayer key may challenge this agent: set relayerKeys to the quorum's identity keys",
    )
  const prover = await startProver(config, first.gpus?.length ?? 0, logger)
  const telemetry = cachedTelemetry(() => readGpuTelemetry(config.nvidiaSmi), config.telemetryTtlMs)
  const recordGpus = (first.gpus ?? []).map((g) => g.uuid)
  const metrics = createAgentMetrics({ telemetry, recordGpus: () => recordGpus })
  const agent = new ProviderAgent({
    metrics,
    signer,
    ...(prover ? { prover: prover.prover } : {}),
    record: {
      url: config.publicUrl,
      gpus: (first.gpus ?? []).map((g) => ({ name: g.name, memoryTotalMiB: g.memoryTotalMiB, uuid: g.uuid })),
      payout: config.payout,
      prices: config.prices,
      // Absent rather than empty, so a provider without BTC payouts signs the record it always did.
      ...(config.btcScripts.length > 0 ? { btcScripts: config.btcScripts } : {}),
    },
    recordTtlSeconds: config.recordTtlSeconds,
    telemetry,
    rateLimit: config.rateLimit,
    ...(config.computeRateLimit ? { computeRateLimit: config.computeRateLimit } : {}),
    ...(config.computeConcurrency ? { computeConcurrency: config.computeConcurrency } : {}),
    addressRateLimit: config.addressRateLimit,
    ...(config.relayerKeys ? { relayerKeys: config.relayerKeys } : {}),
    ...(config.tls
      ? {
          tls: {
            cert: readFileSync(resolve(baseDir, config.tls.cert)),
            key: readFileSync(resolve(baseDir, config.tls.key)),
          },
        }
      : {}),
    logger,
  })
  const [host, port] = config.listen.split(':') as [string, string]
  await new Promise<void>((ok, fail) => {
    agent.server.once('error', fail)
    agent.server.listen(Number(port), host, () => ok())
  })
  const url = `${config.tls ? 'https' : 'http'}://${host}:${(agent.server.address() as AddressInfo).port}`
  const metricsServer = config.metricsListen ? await listenMetrics(metrics, config.metricsListen) : undefined
  logger.info({ providerId: signer.publicKey, url, publicUrl: config.publicUrl }, 'agent started')

  const done = (async () => {
    let nextRefresh = Date.now() + (config.recordTtlSeconds * 1000) / 2
    let pending = [...config.relayers]
    while (!signal.aborted) {
      if (Date.now() >= nextRefresh) {
        agent.refreshRecord()
        pending = [...config.relayers]
        nextRefresh = Date.now() + (config.recordTtlSeconds * 1000) / 2
      }
      pending = (
        await Promise.all(
          pending.map(async (relayer) =>
            (await announce(relayer, agent, logger, metrics)) ? undefined : relayer,
          ),
        )
      ).filter((r): r is string => r !== undefined)
      await abortableDelay(pending.length ? 1_000 : 5_000, signal).catch(() => undefined)
    }
    for (const server of [agent.server, metricsServer]) {
      if (!server) continue
      server.closeAllConnections()
      await new Promise<void>((ok) => server.close(() => ok()))
    }
    await prover?.close?.()
  })()
  return { agent, url, done }
}

/** A relayer's answer to an announcement is a short JSON object; nothing longer is read. */
const relayerFetch = boundedFetch(64 * 1024)

async function announce(
  relayer: string,
  agent: ProviderAgent,
  logger: Logger,
  metrics: AgentMetrics,
): Promise<boolean> {
  const outcome = (o: 'accepted' | 'refused' | 'unreachable') =>
    metrics.announcements.inc({ relayer, outcome: o })
  try {
    const res = await relayerFetch(`${relayer.replace(/\/+$/, '')}/v1/providers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: canonicalJson(agent.record),
      signal: AbortSignal.timeout(10_000),
    })
    const text = (await res.text()).slice(0, 1_000)
    if (res.status === 201 || text.includes('STALE_SEQ')) {
      logger.info({ relayer, seq: agent.record.record.seq }, 'provider record announced')
      outcome('accepted')
      return true
    }
    logger.warn({ relayer, status: res.status, body: text }, 'relayer refused the provider record')
    outcome('refused')
  } catch (err) {
    logger.warn({ relayer, err }, 'relayer unreachable; will retry')
    outcome('unreachable')
  }
  return false
}

/** The agent's /metrics on its own listener, off the port relayers and the public reach. */
async function listenMetrics(metrics: AgentMetrics, listen: string): Promise<Server> {
  const server = createMetricsServer(metrics)
  const [host, port] = listen.split(':') as [string, string]
  await new Promise<void>((ok, fail) => {
    server.once('error', fail)
    server.listen(Number(port), host, () => ok())
  })
  return server
}
