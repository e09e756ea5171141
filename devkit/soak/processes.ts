import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { launchQantara } from '../localMarket.js'

/** One supervised process: restarted whenever it exits (a kill, or a deposed leader's exit 75), as systemd would. */
export interface Supervised {
  name: string
  current(): ChildProcess
  /** Exits seen, and those with code 75 (deposed leaders). */
  exits: number
  deposed: number
}

/**
 * Runs `qantara <args>` and starts it again `restartMs` after each exit,
 * until `signal` aborts; then SIGTERMs it and waits for it to stop.
 */
export function supervise(
  name: string,
  args: string[],
  dir: string,
  env: NodeJS.ProcessEnv,
  signal: AbortSignal,
  restartMs = 300,
): Supervised & { stopped: Promise<void> } {
  let child: ChildProcess
  const s = { name, current: () => child, exits: 0, deposed: 0 }
  const start = () => {
    child = launchQantara(args, join(dir, `${name}.log`), env)
    child.once('exit', (code) => {
      s.exits++
      if (code === 75) s.deposed++
      if (!signal.aborted) setTimeout(() => !signal.aborted && start(), restartMs)
    })
  }
  start()
  const stopped = new Promise<void>((resolve) =>
    signal.addEventListener('abort', () => {
      const c = child
      if (c.exitCode !== null || c.signalCode !== null) return resolve()
      c.once('exit', () => resolve())
      c.kill('SIGTERM')
      setTimeout(() => c.kill('SIGKILL'), 10_000).unref()
    }),
  )
  return Object.assign(s, { stopped })
}

export function exited(c: ChildProcess): Promise<void> {
  return new Promise((ok) =>
    c.exitCode !== null || c.signalCode !== null ? ok() : c.once('exit', () => ok()),
  )
}
