import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

/** The relayer's Prometheus metrics, one registry per relayer instance. */
export function createMetrics() {
  const registry = new Registry()
  const m = {
    registry,
    chainHead: new Gauge({
      name: 'qantara_chain_head',
      help: 'latest block height seen per chain',
      labelNames: ['chain'],
      registers: [registry],
    }),
    chainLag: new Gauge({
      name: 'qantara_chain_lag_blocks',
      help: 'blocks between the chain head and the last released block',
      labelNames: ['chain'],
      registers: [registry],
    }),
    chainProgressAt: new Gauge({
      name: 'qantara_chain_last_progress_timestamp_seconds',
      help: "when the chain's watcher last read the chain (unix seconds): a stalled watcher stops moving it, whatever its lag gauge last said",
      labelNames: ['chain'],
      registers: [registry],
    }),
    watcherUp: new Gauge({
      name: 'qantara_watcher_up',
      help: "1 while the chain's watcher runs, 0 once it has stopped (see the log for why)",
      labelNames: ['chain'],
      registers: [registry],
    }),
    tickAt: new Gauge({
      name: 'qantara_tick_last_timestamp_seconds',
      help: "when the relayer's tick last finished a pass (unix seconds): 0 on a standby",
      registers: [registry],
    }),
    probes: new Counter({
      name: 'qantara_probes_total',
      help: 'heartbeat challenges by result code (OK or the rejection code)',
      labelNames: ['result'],
      registers: [registry],
    }),
    orders: new Gauge({
      name: 'qantara_orders',
      help: 'orders by state',
      labelNames: ['state'],
      registers: [registry],
    }),
    settlementsSubmitted: new Counter({
      name: 'qantara_settlements_submitted_total',
      help: 'settlement submissions started',
      labelNames: ['chain'],
      registers: [registry],
    }),
    settlementsConfirmed: new Counter({
      name: 'qantara_settlements_confirmed_total',
      help: 'settlements final on chain (ours or already settled)',
      labelNames: ['chain', 'outcome'],
      registers: [registry],
    }),
    fundedSettlements: new Gauge({
      name: 'qantara_signer_funded_settlements',
      help: "settlements (releases, on a vault chain) the chain's signing key, or the vault's fee reserve, can pay for at the configured fee caps; read every minute",
      labelNames: ['chain', 'account'],
      registers: [registry],
    }),
    rpcRequests: new Counter({
      name: 'qantara_rpc_requests_total',
      help: 'requests to each chain RPC endpoint (named as logs show it, API keys masked), by outcome: ok, or error (an unreachable node, a 5xx, a timeout, an answer that does not parse)',
      labelNames: ['chain', 'endpoint', 'outcome'],
      registers: [registry],
    }),
    rpcSeconds: new Histogram({
      name: 'qantara_rpc_request_seconds',
      help: 'time of one request to a chain RPC endpoint, answered or not',
      labelNames: ['chain', 'endpoint'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    submitLatency: new Histogram({
      name: 'qantara_submit_latency_seconds',
      help: 'from starting a submission to its confirmation',
      labelNames: ['chain'],
      buckets: [0.1, 0.5, 1, 2, 5, 15, 60, 300],
      registers: [registry],
    }),
    peerRejections: new Counter({
      name: 'qantara_peer_rejections_total',
      help: 'items from peers refused, by peer and reason',
      labelNames: ['peer', 'reason'],
      registers: [registry],
    }),
    settlementDisagreements: new Counter({
      name: 'qantara_settlement_disagreements_total',
      help: 'peer signatures over a settlement different from ours',
      labelNames: ['peer'],
      registers: [registry],
    }),
    ordersRefused: new Counter({
      name: 'qantara_orders_refused_total',
      help: 'opened orders not taken on, by reason (terms out of bounds, …)',
      labelNames: ['chain', 'reason'],
      registers: [registry],
    }),
    orderFailures: new Counter({
      name: 'qantara_order_failures_total',
      help: 'ticks in which advancing one order or applying one event threw; that order is skipped for a while, the others go on',
      labelNames: ['step'],
      registers: [registry],
    }),
    vaultDepositsUnrefunded: new Counter({
      name: 'qantara_vault_deposits_unrefunded_total',
      help: "vault deposits that opened no order and are not refunded (below the chain's minRefund, no signing sender, or nothing received): they stay in the vault",
      labelNames: ['chain'],
      registers: [registry],
    }),
    recordsRejected: new Counter({
      name: 'qantara_provider_records_rejected_total',
      help: 'provider records refused, by code',
      labelNames: ['code'],
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: 'qantara_webhook_deliveries_total',
      help: 'webhook deliveries by outcome: delivered (2xx), failed (refused, or retries given up), dropped (the queue was full)',
      labelNames: ['hook', 'outcome'],
      registers: [registry],
    }),
    webhookAttempts: new Counter({
      name: 'qantara_webhook_attempts_total',
      help: "webhook delivery attempts by result: the answer's status class (2xx, 3xx, 4xx, 5xx) or error (no answer in time, or no connection)",
      labelNames: ['hook', 'result'],
      registers: [registry],
    }),
    webhookQueue: new Gauge({
      name: 'qantara_webhook_queue',
      help: "webhook deliveries held in memory, waiting for a first attempt or a retry; at the hook's maxQueue new events are dropped",
      labelNames: ['hook'],
      registers: [registry],
    }),
  }
  // The process's own: CPU, resident memory, heap, event-loop lag, open file descriptors.
  collectDefaultMetrics({ register: registry })
  return m
}

export type Metrics = ReturnType<typeof createMetrics>
