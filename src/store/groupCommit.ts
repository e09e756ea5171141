/**
 * Group commit: writes asked for while one is in flight go together in the
 * next, so many probes finishing at once cost one transaction, not one each
 * (issue 16). A caller's promise settles when its own item is written, so
 * nothing is acknowledged before it is durable. When a batch fails for
 * something other than the store being unreachable, its items are written
 * again one by one: one item the store refuses fails alone, never the
 * probes that happened to share its batch.
 */
import { isQantaraError } from '../errors.js'

export class GroupCommit<T, R> {
  private waiting: { item: T; resolve: (r: R) => void; reject: (err: unknown) => void }[] = []
  private draining = false

  constructor(
    private readonly write: (items: readonly T[]) => Promise<R[]>,
    private readonly maxBatch = 256,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject })
      if (this.draining) return
      this.draining = true
      // Not before the current turn ends: answers parsed in this turn join the same batch.
      setImmediate(() => void this.drain())
    })
  }

  private async drain(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, this.maxBatch)
        try {
          const results = await this.write(batch.map((w) => w.item))
          batch.forEach((w, i) => w.resolve(results[i]!))
        } catch (err) {
          // The store down or timing out fails every item alike: one by one would only make each wait again.
          if (batch.length === 1 || (isQantaraError(err) && err.retryable))
            for (const w of batch) w.reject(err)
          else
            for (const w of batch)
              await Promise.resolve()
                .then(() => this.write([w.item]))
                .then(
                  ([r]) => w.resolve(r!),
                  (e: unknown) => w.reject(e),
                )
        }
      }
    } finally {
      this.draining = false
    }
  }
}
