import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createApiServer } from '../api/server.js'
import { createMetricsServer } from '../api/metricsServer.js'
import type { LoadedConfig } from './loadConfig.js'
import { buildBtcRail } from './bitcoin.js'
import { buildChainRuntimes } from './families.js'
import { createSafeHttp } from '../http/safeHttp.js'
import type { Logger } from '../log.js'
import { createMetrics } from '../metrics.js'
import { ProviderRegistry } from '../registry/registry.js'
import { openStore } from '../store/open.js'
import { Prober } from '../relay/prober.js'
import { ComputeChallenges } from '../relay/computeChallenge.js'
import type { OrderTerms } from '../order.js'
import { readSecret, type KeySource } from '../config/keySource.js'
import { Relayer } from '../relay/relayer.js'
import { RetargetApprovals } from '../peer/retargetApprovals.js'
import { Gossip, type Peer } from '../peer/gossip.js'
import { peerRoutes, storePeerSource, type PeerHandler, type PeerSource } from '../peer/routes.js'
import type { SettlementStrategy } from '../relay/settlementStrategy.js'
import type { ChainRuntime } from '../chains.js'
import type { Ed25519Signer } from '../ed25519.js'
import type { Store } from '../store/store.js'
import { QantaraError } from '../errors.js'

export interface RunningRelayer {
  relayer: Relayer
  api: Server
  apiUrl: string
  /** Resolves when the relayer has stopped after `signal` aborted. */
  done: Promise<void>
}

/** What a relayer is assembled from, for a seam that needs more than the part it wraps. */
export interface RelayerParts {
  relayerId: string
  identity: Ed25519Signer
  peers: Peer[]
  store: Store
  chains: ChainRuntime[]
}

/**
 * Where the dev kit wraps a relayer's parts to make it faulty
 * (devkit/faults: a byzantine member, a slow peer). Production passes none.
 */
export interface RelayerSeams {
  /** What it signs and whether it posts alone; the honest strategy when absent. */
  strategy?: SettlementStrategy
  /** Wraps what it serves its peers. */
  peerSource?: (honest: PeerSource, parts: RelayerParts) => PeerSource
  /** Wraps its handler of peer requests. */
  peerHandler?: (honest: PeerHandler) => PeerHandler
}

/** Assembles a relayer from a loaded config and starts it: API first, then watchers and the ticker. */
export async function startRelayer(
  loaded: LoadedConfig,
  logger: Logger,
  signal: AbortSignal,
  seams: RelayerSeams = {},
): Promise<RunningRelayer> {
  const { config, signers, identity } = loaded
  const store = await openStore(config.store, process.env)
  const metrics = createMetrics()
  const httpOptions = {
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
  const btc = buildBtcRail(config.bitcoin, store, process.env, loaded.baseDir)
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
  const relayerKeys = new Map(config.quorum.members.map((m) => [m.id, m.identity]))
  const peers = config.quorum.members
    .filter((m) => m.id !== config.relayer.id && m.url)
    .map((m) => ({ id: m.id, url: m.url! }))
  const peerHttpOptions = {
    timeoutMs: config.gossip.timeoutMs,
    maxBytes: config.gossip.maxResponseBytes,
    allowPrivate: config.gossip.allowPrivatePeers,
  }
  const gossip = peers.length
    ? new Gossip({
        selfId: config.relayer.id,
        peers,
        relayerKeys,
        store,
        http: createSafeHttp(peerHttpOptions),
        httpOptions: peerHttpOptions,
        skewMs: config.prober.maxSkewMs,
        metrics,
        logger: logger.child({ module: 'gossip' }),
      })
    : undefined
  const chains = buildChainRuntimes(config, signers, store, logger, (peerId, orderId, message, sig) => {
    if (!gossip)
      return Promise.reject(
        new QantaraError('SUBMIT_FAILED', 'a co-signed release needs peers (quorum member urls)', {
          retryable: false,
        }),
      )
    return gossip.requestCosignature(peerId, orderId, message, sig)
  })
  const retargetApprovals = new RetargetApprovals()
  const relayer = new Relayer({
    relayerId: config.relayer.id,
    members: config.quorum.members.map((m) => m.id),
    threshold: config.quorum.threshold,
    feeBps: config.settlement.feeBps,
    graceSeconds: config.settlement.graceSeconds,
    refundAfterSeconds: config.settlement.refundAfterSeconds,
    acceptTestGpuClasses: config.settlement.acceptTestGpuClasses,
    // The config guarantees the schedule is the quorum's: shared by secret, or a quorum of one.
    challengeSchedule: (order: OrderTerms, slot: number) => compute.sizeFor(order, slot) !== undefined,
    ...(gossip ? { gossip } : {}),
    gossipIntervalMs: config.gossip.intervalMs,
    gossipWindowSeconds: peers.length ? config.gossip.windowSeconds : 0,
    failoverSeconds: config.gossip.failoverSeconds,
    ...(seams.strategy ? { strategy: seams.strategy } : {}),
    registry,
    store,
    chains,
    prober,
    metrics,
    logger,
    ...(btc ? { btc } : {}),
    retargetApprovals,
  })
  const cosign = async (orderId: string, message: string) => {
    const record = await store.getOrder(orderId)
    if (!record?.settlement)
      throw new QantaraError('COSIGN_REFUSED', `no settlement of ${orderId} here yet`, {
        context: { reason: 'NOT_SETTLED_HERE' },
        retryable: true,
      })
    const runtime = chains.find((c) => c.chain === record.terms.chain)
    if (runtime?.kind !== 'vault')
      throw new QantaraError('COSIGN_REFUSED', `${record.terms.chain} releases are not co-signed`, {
        context: { reason: 'NOT_COSIGNED' },
      })
    return runtime.cosignRelease(record.terms, record.settlement, message)
  }
  const honestSource = storePeerSource(store, config.relayer.id)
  const source =
    seams.peerSource?.(honestSource, { relayerId: config.relayer.id, identity, peers, store, chains }) ??
    honestSource
  const honestPeer = peerRoutes({
    relayerId: config.relayer.id,
    identity,
    store,
    source,
    cosign,
    retargets: retargetApprovals,
  })
  const peer = seams.peerHandler?.(honestPeer) ?? honestPeer
  const api = createApiServer({
    store,
    relayer,
    registry,
    metrics,
    peer,
    registrations: config.api.registrations,
    logger: logger.child({ module: 'api' }),
  })
  const [host, port] = config.api.listen.split(':') as [string, string]
  await new Promise<void>((resolve, reject) => {
    api.once('error', reject)
    api.listen(Number(port), host, () => resolve())
  })
  const address = api.address() as AddressInfo
  const apiUrl = `http://${host}:${address.port}`
  const metricsServer = createMetricsServer(metrics)
  const [metricsHost, metricsPort] = config.api.metricsListen.split(':') as [string, string]
  await new Promise<void>((resolve, reject) => {
    metricsServer.once('error', reject)
    metricsServer.listen(Number(metricsPort), metricsHost, () => resolve())
  })
  logger.info(
    {
      relayer: config.relayer.id,
      api: apiUrl,
      metrics: config.api.metricsListen,
      chains: chains.map((c) => c.chain),
    },
    'relayer started',
  )
  const done = relayer.run(signal).finally(async () => {
    for (const server of [api, metricsServer]) {
      await new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
    }
    await store.close()
  })
  return { relayer, api, apiUrl, done }
}

/** The quorum's challenge schedule secret: key material, read like a key and never logged. */
function sharedSecret(source: KeySource, env: NodeJS.ProcessEnv, baseDir: string): string {
  const secret = readSecret(source, env, baseDir)
  if (secret.kind !== 'hex' || !/^(0x)?[0-9a-fA-F]{64,}$/.test(secret.value))
    throw new QantaraError(
      'KEY_UNAVAILABLE',
      'quorum.challengeSecret must be at least 32 bytes of hex (not a keystore)',
    )
  return secret.value.replace(/^0x/, '').toLowerCase()
}
