import { abortableDelay } from '../src/abort.js'

/** Polls `fn` until it returns a value, or fails after `ms` naming what it waited for; `signal` stops the wait early. */
export async function waitFor<T>(
  fn: () => Promise<T | undefined>,
  what: string,
  ms = 30_000,
  everyMs = 100,
  signal?: AbortSignal,
): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await abortableDelay(everyMs, signal)
  }
}
