import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { API_VERSION, createApiServer } from '../api/server.js'
import { relayerView } from './relayerStatus.js'
import { WebhookDispatcher } from '../webhooks/dispatcher.js'
import type { WebhookEvent } from '../webhooks/events.js'
import { createMetricsServer } from '../api/metricsServer.js'
import type { LoadedConfig } from './loadConfig.js'
import { buildBtcRail } from './bitcoin.js'
import { buildChainRuntimes } from './families.js'
import { createSafeHttp } from '../http/safeHttp.js'
import type { Logger } from '../log.js'
import { createMetrics, type Metrics } from '../metrics.js'
import { openStore } from '../store/open.js'
import { Leadership } from '../relay/leadership.js'
import { QueuedProbes } from '../relay/probeQueue.js'
import {
  buildProbing,
  isShared,
  processHolderId,
  probeWorker,
  type RelayerRole,
  type SharedStore,
} from './probing.js'
import type { OrderTerms } from '../order.js'
import { Relayer } from '../relay/relayer.js'
import { cosignRequests } from '../relay/cosignRequests.js'
import { RetargetApprovals } from '../peer/retargetApprovals.js'
import { Gossip, type Peer } from '../peer/gossip.js'
import { peerRoutes, storePeerSource, type PeerHandler, type PeerSource } from '../peer/routes.js'
import type { SettlementStrategy } from '../relay/settlementStrategy.js'
import type { ChainRuntime } from '../chains.js'
import type { Ed25519Signer } from '../ed25519.js'
import type { Store } from '../store/store.js'
import { QantaraError } from '../errors.js'

/** Why a relayer process stopped: asked to, or deposed as leader (exit, and be restarted as a standby). */
export type RelayerExit = 'stopped' | 'deposed'

export interface RunningRelayer {
  relayer: Relayer
  api: Server
  apiUrl: string
  /** Resolves when the relayer has stopped: after `signal` aborted, or deposed (its leader lease lost to another process). */
  done: Promise<RelayerExit>
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
  /** `leader`: probes are left to worker processes (`qantara relay --role worker`, src/app/worker.ts). */
  role: Exclude<RelayerRole, 'worker'> = 'all',
): Promise<RunningRelayer> {
  const { config, signers, identity } = loaded
  const store = await openStore(config.store, process.env)
  const metrics = createMetrics()
  const shared = isShared(store) ? store : undefined
  if (role !== 'all' && !shared) {
    await store.close()
    throw new QantaraError(
      'CONFIG_INVALID',
      `--role ${role} needs a store its processes share: store.postgres`,
    )
  }
  const { registry, compute, prober } = buildProbing(loaded, store, metrics, logger)
  const btc = buildBtcRail(config.bitcoin, store, process.env, loaded.baseDir)
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
  const chains = buildChainRuntimes(
    config,
    signers,
    store,
    logger,
    (peerId, orderId, message, leg, sig) => {
      if (!gossip)
        return Promise.reject(
          new QantaraError('SUBMIT_FAILED', 'a co-signed release needs peers (quorum member urls)', {
            retryable: false,
          }),
        )
      return gossip.requestCosignature(peerId, orderId, message, leg, sig)
    },
    rpcObserver(metrics),
  )
  const retargetApprovals = new RetargetApprovals()
  const webhooks = config.webhooks.length
    ? new WebhookDispatcher({
        hooks: config.webhooks,
        signer: identity,
        relayerId: config.relayer.id,
        logger: logger.child({ module: 'webhooks' }),
        metrics,
      })
    : undefined
  const relayer = new Relayer({
    ...(webhooks ? { notify: (e: WebhookEvent) => webhooks.emit(e) } : {}),
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
    compactAfterMs: config.store.compactAfterDays * 86_400_000,
    gossipWindowSeconds: peers.length ? config.gossip.windowSeconds : 0,
    failoverSeconds: config.gossip.failoverSeconds,
    ...(seams.strategy ? { strategy: seams.strategy } : {}),
    registry,
    store,
    chains,
    prober: shared ? new QueuedProbes(shared) : prober,
    metrics,
    logger,
    ...(btc ? { btc } : {}),
    retargetApprovals,
  })
  const cosign = cosignRequests({
    store,
    chains,
    ...(btc ? { rail: btc } : {}),
    bitcoinCaughtUp: () => relayer.bitcoinCaughtUp(),
  })
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
    relayer: relayerView({
      relayerId: config.relayer.id,
      identity: identity.publicKey,
      version: API_VERSION,
      threshold: config.quorum.threshold,
      members: config.quorum.members,
      explorers: config.api.explorers,
      relayer,
      store,
      chains,
      metrics,
      ...(webhooks ? { webhooks } : {}),
    }),
    registry,
    metrics,
    peer,
    registrations: config.api.registrations,
    corsOrigins: config.api.corsOrigins,
    dashboard: config.api.dashboard,
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
  const worker = shared && role === 'all' ? probeWorker(loaded, shared, prober, logger) : undefined
  // A deposed leader stops its worker too, so the whole process exits (75) for its supervisor to restart as a standby.
  const deposed = new AbortController()
  const led = shared
    ? lead(relayer, shared, config, logger, signal).then((exit) => {
        if (exit === 'deposed') deposed.abort()
        return exit
      })
    : relayer.run(signal).then(() => 'stopped' as const)
  const done = Promise.all([
    led,
    worker?.run(AbortSignal.any([signal, deposed.signal])),
    webhooks?.run(AbortSignal.any([signal, deposed.signal])),
  ])
    .then(([exit]) => exit)
    .finally(async () => {
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

/**
 * Leads once this process holds the identity's leader lease: until `signal`
 * (a clean stop, which hands the lease over at once) or until the lease is
 * lost (deposed: the process should exit and be restarted as a standby).
 */
async function lead(
  relayer: Relayer,
  store: SharedStore,
  config: LoadedConfig['config'],
  logger: Logger,
  signal: AbortSignal,
): Promise<RelayerExit> {
  const leadership = new Leadership({
    leases: store,
    name: `leader:${config.relayer.id}`,
    holder: processHolderId(),
    ttlMs: config.store.postgres?.leaseTtlMs ?? 15_000,
    logger: logger.child({ module: 'leadership' }),
  })
  const lease = await leadership.acquire(signal)
  if (!lease) return 'stopped'
  store.fence(lease, leadership.fenceMarginMs)
  const held = leadership.hold(lease)
  await relayer.run(AbortSignal.any([signal, held.lost]))
  await held.release()
  return held.lost.aborted ? 'deposed' : 'stopped'
}

/** Each chain's RPC requests as metrics: a count by outcome and a latency per endpoint. */
function rpcObserver(metrics: Metrics) {
  return (chain: string) => (endpoint: string, outcome: 'ok' | 'error', seconds: number) => {
    metrics.rpcRequests.inc({ chain, endpoint, outcome })
    metrics.rpcSeconds.observe({ chain, endpoint }, seconds)
  }
}
