import { abortableDelay } from './abort.js'
import type { Watcher, WatchResult } from './chains.js'
import { QantaraError, isQantaraError } from './errors.js'
import type { Logger } from './log.js'
import type { Store } from './store/store.js'
import { syncProgress } from './syncProgress.js'

export interface WatchLoopOptions {
  store: Store
  logger: Logger
  /** Pause between polls once caught up with the chain. */
  intervalMs: number
  /** Longest pause after repeated failures. */
  maxBackoffMs?: number
  onProgress?: (result: WatchResult) => void
}

/**
 * Drives one watcher until `signal` aborts: poll from the stored checkpoint,
 * commit the events with the new checkpoint in one transaction, repeat. A
 * retryable failure backs off and tries again; a fatal one (a reorg beyond
 * finality) ends the loop with that error so the operator sees it.
 */
export async function runWatchLoop(
  watcher: Watcher,
  options: WatchLoopOptions,
  signal: AbortSignal,
): Promise<void> {
  const log = options.logger.child({ module: 'watcher', chain: watcher.chain })
  const progress = syncProgress(log)
  let failures = 0
  while (!signal.aborted) {
    try {
      const from = await options.store.getCheckpoint(watcher.chain)
      const result = await watcher.poll(from, signal)
      const inserted = await options.store.commitEvents(watcher.chain, result.events, result.checkpoint)
      if (inserted > 0)
        log.info({ height: result.checkpoint.height, events: inserted, lag: result.lag }, 'events released')
      options.onProgress?.(result)
      progress(result.checkpoint.height, result.lag)
      failures = 0
      // Behind the chain: keep reading at once. Caught up: wait for new blocks.
      const progressed = from === undefined || result.checkpoint.height > from.height
      if (!progressed) await abortableDelay(options.intervalMs, signal)
    } catch (err) {
      if (isQantaraError(err, 'ABORTED') || signal.aborted) return
      if (!isRetryable(err)) {
        log.error({ err }, 'watcher stopped')
        throw err
      }
      failures++
      const wait = Math.min(options.maxBackoffMs ?? 30_000, options.intervalMs * 2 ** Math.min(failures, 10))
      log.warn({ err, failures, retryInMs: wait }, 'watcher poll failed')
      try {
        await abortableDelay(wait, signal)
      } catch {
        return
      }
    }
  }
}

function isRetryable(err: unknown): boolean {
  // Anything that is not one of our own classified errors is an unknown
  // failure of an RPC or the network: worth another try.
  return !(err instanceof QantaraError) || err.retryable
}
