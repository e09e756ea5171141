import { createMetricsServer } from '../api/metricsServer.js'
import { QantaraError } from '../errors.js'
import type { Logger } from '../log.js'
import { createMetrics } from '../metrics.js'
import { openStore } from '../store/open.js'
import type { LoadedConfig } from './loadConfig.js'
import { buildProbing, isShared, probeWorker } from './probing.js'

export interface RunningWorker {
  /** Resolves once the worker has stopped after `signal` aborted and its probes in flight have ended. */
  done: Promise<void>
}

/**
 * A probe worker of a relayer identity (`qantara relay --role worker`): no
 * watchers, no chain writes, no API; it claims the identity's due probe jobs
 * from the shared store, runs each (compute checks included) with the
 * identity's key, and keeps the heartbeats. Its metrics are served on
 * `api.metricsListen` (give each worker on a host its own port, e.g. with
 * QANTARA__API__METRICSLISTEN).
 */
export async function startWorker(
  loaded: LoadedConfig,
  logger: Logger,
  signal: AbortSignal,
): Promise<RunningWorker> {
  const { config } = loaded
  const store = await openStore(config.store, process.env)
  if (!isShared(store)) {
    await store.close()
    throw new QantaraError(
      'CONFIG_INVALID',
      '--role worker needs a store its processes share: store.postgres',
    )
  }
  const metrics = createMetrics()
  const { prober } = buildProbing(loaded, store, metrics, logger)
  const worker = probeWorker(loaded, store, prober, logger)
  const metricsServer = createMetricsServer(metrics)
  const [host, port] = config.api.metricsListen.split(':') as [string, string]
  await new Promise<void>((resolve, reject) => {
    metricsServer.once('error', reject)
    metricsServer.listen(Number(port), host, () => resolve())
  })
  logger.info({ relayer: config.relayer.id, metrics: config.api.metricsListen }, 'probe worker started')
  const done = worker.run(signal).finally(async () => {
    await new Promise<void>((resolve) => {
      metricsServer.closeAllConnections()
      metricsServer.close(() => resolve())
    })
    await store.close()
  })
  return { done }
}
