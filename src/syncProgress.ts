import type { Logger } from './log.js'

export interface SyncProgressOptions {
  /** Behind by more than this, a watcher is catching up and says how it goes. */
  minLag?: bigint
  /** At most one progress line this often. */
  everyMs?: number
  now?: () => number
}

/**
 * A long catch-up as log lines an operator can plan by: while a watcher is
 * far behind its chain, every 30 s, how far along it is since it started
 * catching up, how fast it goes, and when it should be done; then one line
 * once it has caught up. A relayer syncing for hours is otherwise silent.
 */
export function syncProgress(log: Logger, o: SyncProgressOptions = {}) {
  const minLag = o.minLag ?? 1_000n
  const everyMs = o.everyMs ?? 30_000
  const now = o.now ?? Date.now
  let start: { height: bigint; at: number; logged: boolean } | undefined
  let lastLog = Number.NEGATIVE_INFINITY
  return (height: bigint, lag: bigint): void => {
    const t = now()
    if (lag <= minLag) {
      if (start?.logged)
        log.info({ height, seconds: Math.round((t - start.at) / 1000) }, 'caught up with the chain')
      start = undefined
      return
    }
    start ??= { height, at: t, logged: false }
    if (t - lastLog < everyMs) return
    lastLog = t
    start.logged = true
    const done = height - start.height
    const total = done + lag
    const seconds = (t - start.at) / 1000
    const perSecond = seconds > 0 ? Number(done) / seconds : 0
    log.info(
      {
        height,
        head: height + lag,
        lag,
        percent: total > 0n ? Number((done * 10_000n) / total) / 100 : 0,
        perSecond: Math.round(perSecond * 10) / 10,
        ...(perSecond > 0 ? { etaSeconds: Math.round(Number(lag) / perSecond) } : {}),
      },
      'catching up with the chain',
    )
  }
}
