import { referenceGpu } from '../../devkit/gpu/referenceGpu.js'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { LocalAccount } from 'viem'
import { evmChainConfigSchema } from '../../adapters/evm/config.js'
import { evmRuntime } from '../../adapters/evm/runtime.js'
import { ProviderAgent } from '../../src/agent/server.js'
import type { Ed25519Signer } from '../../src/ed25519.js'
import type { OrderTerms } from '../../src/order.js'
import { createSafeHttp } from '../../src/http/safeHttp.js'
import { silentLogger } from '../../src/log.js'
import { createMetrics } from '../../src/metrics.js'
import { Gossip, type Peer } from '../../src/peer/gossip.js'
import { peerRoutes, storePeerSource, type PeerSource } from '../../src/peer/routes.js'
import { ComputeChallenges } from '../../src/relay/computeChallenge.js'
import type { ComputeProver } from '../../src/agent/prover.js'
import type { Telemetry } from '../../src/agent/telemetry.js'
import type { ProviderRecord } from '../../src/registry/record.js'
import { ProviderRegistry } from '../../src/registry/registry.js'
import { Prober } from '../../src/relay/prober.js'
import { Relayer } from '../../src/relay/relayer.js'
import { SqliteStore } from '../../src/store/sqlite.js'

const HTTP = { timeoutMs: 1_500, maxBytes: 256 * 1024, allowPrivate: true }

export interface InProcessRelayer {
  id: string
  url: string
  store: SqliteStore
  relayer: Relayer
  registry: ProviderRegistry
  metrics: ReturnType<typeof createMetrics>
  run: (signal: AbortSignal) => Promise<void>
  close: () => Promise<void>
}

/** Listens on a free loopback port; resolves to its base URL. */
export async function listen(server: Server): Promise<string> {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const TEST_CHALLENGE_SECRET = '5e'.repeat(32)

/**
 * A real relayer (store, prober, gossip, peer routes, EVM runtime on a real
 * chain) in this process, so a test can set a hostile peer beside it.
 * `peers` is kept by reference: fill it in once every member listens.
 */
export async function inProcessRelayer(o: {
  id: string
  identity: Ed25519Signer
  account: LocalAccount
  relayerKeys: ReadonlyMap<string, string>
  members: string[]
  evmMembers: ReadonlyMap<string, string>
  threshold: number
  rpcUrl: string
  escrow: string
  peers: Peer[]
  gossipIntervalMs?: number
  tokens?: Record<string, string>
  /** Share of slots this relayer sends a compute challenge in (none by default). */
  computeRate?: number
  httpTimeoutMs?: number
  /** What its peer routes serve, from the honest source: a test plays a byzantine peer with it. */
  peerSource?: (honest: PeerSource) => PeerSource
}): Promise<InProcessRelayer> {
  const store = new SqliteStore(':memory:')
  const metrics = createMetrics()
  const logger = silentLogger()
  const HTTP_OPTIONS = { ...HTTP, timeoutMs: o.httpTimeoutMs ?? HTTP.timeoutMs }
  const http = createSafeHttp(HTTP_OPTIONS)
  const registry = new ProviderRegistry({ store, http, httpOptions: HTTP_OPTIONS, logger })
  // Every in-process relayer holds the same schedule secret, as a real quorum's members do.
  const compute =
    o.computeRate === undefined
      ? undefined
      : new ComputeChallenges({
          relayerId: o.id,
          identity: o.identity,
          perMillion: Math.round(o.computeRate * 1_000_000),
          sharedSecret: TEST_CHALLENGE_SECRET,
          store,
          http,
          httpOptions: HTTP_OPTIONS,
          logger,
        })
  const prober = new Prober({
    relayerId: o.id,
    identity: o.identity,
    relayerKeys: o.relayerKeys,
    store,
    registry,
    http,
    httpOptions: HTTP_OPTIONS,
    concurrency: 8,
    perHostConcurrency: 4,
    maxSkewMs: 30_000,
    metrics,
    logger,
    ...(compute ? { compute } : {}),
  })
  const gossip = new Gossip({
    selfId: o.id,
    peers: o.peers,
    relayerKeys: o.relayerKeys,
    store,
    http,
    httpOptions: HTTP_OPTIONS,
    skewMs: 30_000,
    metrics,
    logger,
  })
  const config = evmChainConfigSchema.parse({
    family: 'evm',
    id: 'eip155:31337',
    rpc: [o.rpcUrl],
    escrow: o.escrow,
    confirmations: 0,
    pollIntervalMs: 200,
    key: { env: 'UNUSED' },
    submitter: { maxFeePerGasWei: '100000000000' },
    ...(o.tokens ? { tokens: o.tokens } : {}),
  })
  const chain = evmRuntime(config, o.account, o.evmMembers, store, logger)
  const relayer = new Relayer({
    relayerId: o.id,
    members: o.members,
    threshold: o.threshold,
    // The dev kit's CPU reference device is what these providers report.
    acceptTestGpuClasses: true,
    ...(compute
      ? { challengeSchedule: (order: OrderTerms, slot: number) => compute.sizeFor(order, slot) !== undefined }
      : {}),
    gossip,
    gossipIntervalMs: o.gossipIntervalMs ?? 300,
    gossipWindowSeconds: 1,
    failoverSeconds: 2,
    registry,
    feeBps: 0,
    graceSeconds: 1,
    store,
    chains: [chain],
    prober,
    metrics,
    logger,
    tickMs: 100,
  })
  const server = createServer((req, res) => {
    const honest = storePeerSource(store, o.id)
    const source = o.peerSource ? o.peerSource(honest) : honest
    const handle = peerRoutes({ relayerId: o.id, identity: o.identity, store, source })
    void handle(req, res, new URL(req.url ?? '/', 'http://x')).then(
      (done) => done || res.writeHead(404).end(),
    )
  })
  const url = await listen(server)
  return {
    id: o.id,
    url,
    store,
    relayer,
    registry,
    metrics,
    run: (signal) => relayer.run(signal),
    close: async () => {
      server.closeAllConnections()
      await new Promise((ok) => server.close(ok))
      await store.close()
    },
  }
}

/** A provider agent in this process, reporting the dev kit's CPU reference device as its GPU. */
export async function inProcessAgent(
  signer: Ed25519Signer,
  offer: Pick<ProviderRecord, 'payout' | 'prices' | 'btcScripts'>,
  device: { prover?: ComputeProver; telemetry?: () => Promise<Telemetry> } = {},
): Promise<{ agent: ProviderAgent; url: string; close: () => Promise<void> }> {
  const gpu = referenceGpu()
  const record = {
    url: 'http://127.0.0.1',
    gpus: [{ name: gpu.name, uuid: gpu.uuid, memoryTotalMiB: gpu.memoryTotalMiB }],
    ...offer,
  }
  const agent = new ProviderAgent({
    signer,
    record,
    recordTtlSeconds: 3_600,
    rateLimit: { perSecond: 50, burst: 50 },
    // Three-second slots, every one checked by every relayer.
    computeRateLimit: { perSecond: 20, burst: 100 },
    computeConcurrency: 8,
    logger: silentLogger(),
    telemetry: device.telemetry ?? (() => Promise.resolve({ gpus: [gpu] })),
    ...(device.prover ? { prover: device.prover } : {}),
  })
  record.url = await listen(agent.server)
  agent.refreshRecord()
  return {
    agent,
    url: record.url,
    close: async () => {
      agent.server.closeAllConnections()
      await new Promise((ok) => agent.server.close(ok))
    },
  }
}
