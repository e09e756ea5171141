import type { ChainEvent } from '../chains.js'
import { isQantaraError } from '../errors.js'

/** The store's event log as the feed reads it: events in commit order, and named cursors into it. */
export interface EventLog {
  getCursor(name: string): Promise<number>
  setCursor(name: string, seq: number): Promise<void>
  listEvents(options: { afterSeq?: number; limit?: number }): Promise<{ seq: number; event: ChainEvent }[]>
}

/**
 * Applies the store's event log from a named cursor, in order, once each.
 * A retryable failure (a store that cannot take writes right now) stops the
 * pass at that event, to be applied again next time; any other failure is the
 * event's own fault, reported to `skipped`, and must not hold back every
 * event after it.
 */
export async function consumeEvents(
  store: EventLog,
  cursor: string,
  apply: (event: ChainEvent) => Promise<void>,
  skipped: (event: ChainEvent, err: unknown) => void,
): Promise<void> {
  for (;;) {
    const after = await store.getCursor(cursor)
    const batch = await store.listEvents({ afterSeq: after, limit: 500 })
    if (batch.length === 0) return
    for (const { seq, event } of batch) {
      try {
        await apply(event)
      } catch (err) {
        if (isQantaraError(err) && err.retryable) {
          await store.setCursor(cursor, seq - 1)
          throw err
        }
        skipped(event, err)
      }
    }
    await store.setCursor(cursor, batch.at(-1)!.seq)
  }
}
