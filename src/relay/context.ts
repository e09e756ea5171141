import type { ChainRuntime } from '../chains.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import { isTerminal, type Transition } from '../orders/lifecycle.js'
import type { Store } from '../store/store.js'
import type { RelayerOptions } from './options.js'
import type { TaskRunner } from './tasks.js'
import type { TurnPolicy } from './turns.js'
import { noticeTransition, type Notify } from './orderNotices.js'

/** What every part of the relayer shares: its options, store, clock, task runner and turn policy. */
export interface RelayerContext {
  readonly options: RelayerOptions
  readonly store: Store
  readonly metrics: Metrics
  readonly log: Logger
  readonly tasks: TaskRunner
  readonly turns: TurnPolicy
  readonly now: () => number
  runtime(chain: string): ChainRuntime | undefined
  /** Makes a lifecycle transition; an order it leaves in a final state is forgotten by every part. */
  transition(orderId: string, t: Transition): Promise<boolean>
}

/**
 * Applies `t` to the store; an order it moved to a final state is forgotten. One it did not move (the order was
 * elsewhere already) keeps its bookkeeping: it may be live in another state, say payout-pending.
 */
export async function applyTransition(
  store: Store,
  orderId: string,
  t: Transition,
  now: number,
  forget: (orderId: string) => void,
  notices?: { notify: Notify; log: Logger },
): Promise<boolean> {
  const before = notices && (await store.getOrder(orderId))?.state
  const moved = await store.transitionOrder(orderId, t.from, t.to, t.patch, now)
  if (moved && isTerminal(t.to)) forget(orderId)
  if (moved && notices) await noticeTransition(store, orderId, before, t, notices.notify, notices.log)
  return moved
}
