import type { RelayerView } from '../api/route.js'
import type { RelayerStatus } from '../api/schemas.js'
import { errorMessage } from '../errors.js'
import { redactUrl, redactUrls } from '../http/redactUrl.js'
import type { Metrics } from '../metrics.js'
import { probePeer } from '../peer/reachability.js'
import type { RelayerHealth } from '../relay/health.js'
import type { OrderTerms } from '../order.js'
import type { Store } from '../store/store.js'
import type { ChainRuntime } from '../chains.js'
import type { WebhookStatus } from '../webhooks/dispatcher.js'

/** How often peers are asked again; a status read between serves the last answers. */
const PEER_PROBE_EVERY_MS = 15_000

interface PeerState {
  reachable: boolean | null
  error?: string
  checkedAt?: number
}

export interface StatusSources {
  relayerId: string
  identity: string
  version: string
  threshold: number
  members: readonly { id: string; url?: string | undefined; identity: string }[]
  explorers: Readonly<Record<string, string>>
  relayer: {
    health(): Promise<RelayerHealth>
    live(): boolean
    slotStatus(terms: OrderTerms): Promise<string | undefined>
  }
  store: Store
  chains: readonly ChainRuntime[]
  metrics: Metrics
  webhooks?: { status(): WebhookStatus[] }
}

/**
 * The API's view of a running relayer: health, and the operator's page —
 * peers (asked at most every 15 s, however often the page is read), each
 * chain's head and lag beside its pending writes and funds, orders by state.
 */
export function relayerView(s: StatusSources): RelayerView {
  const peers = new Map<string, PeerState>(
    s.members.filter((m) => m.id !== s.relayerId).map((m) => [m.id, { reachable: null }]),
  )
  let lastProbe = 0
  let probing: Promise<void> | undefined
  const probePeers = () => {
    lastProbe = Date.now()
    probing = Promise.all(
      s.members
        .filter((m) => m.id !== s.relayerId && m.url)
        .map(async (m) => {
          const probe = await probePeer({ id: m.id, url: m.url!, identity: m.identity }).catch(
            (err: unknown) => ({ reachable: false as const, error: redactUrls(errorMessage(err)) }),
          )
          peers.set(m.id, {
            reachable: probe.reachable,
            ...(probe.reachable ? {} : { error: probe.error }),
            checkedAt: Math.floor(Date.now() / 1000),
          })
        }),
    )
      // Nothing a peer answers may end the process: a probe's failure is its peer's state, never an unhandled rejection.
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        probing = undefined
      })
    return probing
  }
  return {
    health: () => s.relayer.health(),
    live: () => s.relayer.live(),
    slotStatus: (terms) => s.relayer.slotStatus(terms),
    async settlementContext(terms, settlement) {
      // The chain's own set when it has one (an escrow's, rotated by the quorum), else the configured quorum.
      const set = await s.store.getRelayerSet(terms.chain)
      const runtime = s.chains.find((c) => c.chain === terms.chain)
      return {
        threshold: set?.threshold ?? s.threshold,
        ...(set ? { signers: set.members } : {}),
        ...(runtime ? { statement: runtime.settlementStatement(settlement) } : {}),
      }
    },
    async status(): Promise<RelayerStatus> {
      if (!probing && Date.now() - lastProbe >= PEER_PROBE_EVERY_MS) {
        const first = lastProbe === 0
        const run = probePeers()
        // The first read waits for the answers (5 s at most); later ones never wait on a peer.
        if (first) await run
      }
      const [health, pending, orders, funds] = await Promise.all([
        s.relayer.health(),
        s.store.countPendingSubmissions(),
        s.store.countOrdersByState(),
        s.metrics.fundedSettlements.get(),
      ])
      const chains: RelayerStatus['chains'] = {}
      for (const [chain, c] of Object.entries(health.chains)) {
        const funded = funds.values.find((v) => v.labels.chain === chain)
        chains[chain] = {
          ready: c.ready,
          ...(c.head !== undefined ? { head: c.head.toString() } : {}),
          ...(c.lag !== undefined ? { lag: c.lag.toString() } : {}),
          ...(c.checkpoint !== undefined ? { checkpoint: c.checkpoint.toString() } : {}),
          ...(c.stopped ? { stopped: c.stopped } : {}),
          pendingSubmissions: pending[chain] ?? 0,
          ...(funded ? { fundedSettlements: Math.max(0, Math.floor(funded.value)) } : {}),
          ...(s.explorers[chain] ? { explorer: s.explorers[chain] } : {}),
        }
      }
      return {
        relayerId: s.relayerId,
        identity: s.identity,
        version: s.version,
        ready: health.ready,
        running: health.running,
        store: health.store,
        threshold: s.threshold,
        chains,
        peers: s.members
          .filter((m) => m.id !== s.relayerId)
          .map((m) => ({ id: m.id, ...(m.url ? { url: redactUrl(m.url) } : {}), ...peers.get(m.id)! })),
        orders,
        webhooks: (s.webhooks?.status() ?? []).map(publicWebhookStatus),
      }
    },
  }
}

/**
 * A receiver as the public page shows it: its origin only. A webhook URL's
 * path is often its only secret (a capability URL), and an error may quote it.
 */
function publicWebhookStatus(w: WebhookStatus): RelayerStatus['webhooks'][number] {
  let receiver: string
  try {
    receiver = new URL(w.url).origin
  } catch {
    receiver = 'a configured receiver'
  }
  const { last } = w
  return {
    receiver,
    events: w.events,
    queued: w.queued,
    delivered: w.delivered,
    failed: w.failed,
    dropped: w.dropped,
    ...(last
      ? {
          last: {
            type: last.type,
            at: last.at,
            outcome: last.outcome,
            attempts: last.attempts,
            ...(last.httpStatus !== undefined ? { httpStatus: last.httpStatus } : {}),
            ...(last.error ? { error: last.error.replace(/\b\w+:\/\/\S+/g, '<url>').slice(0, 200) } : {}),
          },
        }
      : {}),
  }
}
