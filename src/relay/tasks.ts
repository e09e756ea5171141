import { backoffMs } from './turns.js'

/** The kinds of background work the relayer runs, at most one of each per order at a time. */
export type TaskKind =
  | 'advance'
  | 'settle'
  | 'btc-payout'
  | 'pull-heartbeats'
  | 'pull-signatures'
  | 'final-pull'
  | 'pull-providers'
  | 'compact'
  | 'funds'

/** A task is one kind of work for one order, or for the relayer as a whole (`order` absent). */
export interface TaskKey {
  kind: TaskKind
  order?: string
  /** A task per peer (its heartbeat feed), not tied to an order. */
  peer?: string
  /** A task per chain (its signer's funds), not tied to an order. */
  chain?: string
}

interface TaskState {
  running?: Promise<void>
  /** Failures in a row, and when the task may run again after the last. */
  failures: number
  retryAt: number
  /** When the task last started, for work done at most once per interval. */
  startedAt?: number
  /** When the task first became possible here, for turn-taking. */
  possibleSince?: number
  /** Its order was forgotten while it ran: dropped when it ends. */
  forgotten?: boolean
}

/**
 * Background work keyed by (kind, order): a task never runs twice at once, a
 * failing one backs off (1 s doubling to a minute), an order reaching a final
 * state drops all its keys at once, and `drain` awaits whatever is still
 * running so the store is not closed under it.
 */
export class TaskRunner {
  private readonly tasks = new Map<string, TaskState>()
  private readonly byOrder = new Map<string, Set<string>>()
  /** Kept apart from `tasks`: a task forgotten while it runs is still awaited by `drain`. */
  private readonly running = new Set<Promise<void>>()

  constructor(private readonly now: () => number) {}

  /** Whether the task may start now: not running, not backing off, and (with `everyMs`) not started within that interval. */
  ready(key: TaskKey, everyMs = 0): boolean {
    const task = this.tasks.get(id(key))
    if (!task) return true
    return (
      !task.running &&
      task.retryAt <= this.now() &&
      (task.startedAt === undefined || this.now() - task.startedAt >= everyMs)
    )
  }

  /** Runs `work` in the background if the task is ready; `false` if it was not. Its failures are the caller's to report. */
  start(key: TaskKey, work: () => Promise<void>, everyMs = 0): boolean {
    if (!this.ready(key, everyMs)) return false
    const task = this.state(key)
    task.startedAt = this.now()
    const running = work()
      .catch(() => undefined)
      .finally(() => {
        task.running = undefined
        this.running.delete(running)
        if (task.forgotten) this.tasks.delete(id(key))
      })
    task.running = running
    this.running.add(running)
    return true
  }

  /** Runs `work` now, in line; a throw backs the task off and is rethrown. */
  async runInline<T>(key: TaskKey, work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (err) {
      this.failed(key)
      throw err
    }
  }

  /** When the task is next ready (now when it has never failed). */
  readyAt(key: TaskKey): number {
    return Math.max(this.now(), this.tasks.get(id(key))?.retryAt ?? 0)
  }

  /** Records a failure: the task waits 1 s, then 2 s, … up to a minute before it is ready again. */
  failed(key: TaskKey): void {
    const task = this.state(key)
    task.failures += 1
    task.retryAt = this.now() + backoffMs(task.failures)
  }

  /** Records a start of work done in line (not through `start`), for `ready`'s interval. */
  markStarted(key: TaskKey): void {
    this.state(key).startedAt = this.now()
  }

  /** When the task first became possible: the first call's time, kept until the order is forgotten. */
  possibleSince(key: TaskKey): number {
    const task = this.state(key)
    task.possibleSince ??= this.now()
    return task.possibleSince
  }

  /** Holds the task back until `untilMs` (e.g. an hourly recheck), without counting a failure. */
  pause(key: TaskKey, untilMs: number): void {
    this.state(key).retryAt = untilMs
  }

  /** Forgets every task of an order that reached a final state; one still running keeps its guard until it ends. */
  forget(order: string): void {
    for (const key of this.byOrder.get(order) ?? []) {
      const task = this.tasks.get(key)
      if (task?.running) task.forgotten = true
      else this.tasks.delete(key)
    }
    this.byOrder.delete(order)
  }

  /** Resolves once every task started so far has finished. */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running])
  }

  private state(key: TaskKey): TaskState {
    const k = id(key)
    let task = this.tasks.get(k)
    if (!task) {
      task = { failures: 0, retryAt: 0 }
      this.tasks.set(k, task)
      if (key.order !== undefined) {
        let keys = this.byOrder.get(key.order)
        if (!keys) this.byOrder.set(key.order, (keys = new Set()))
        keys.add(k)
      }
    }
    return task
  }
}

function id(key: TaskKey): string {
  return `${key.kind}:${key.order ?? ''}:${key.peer ?? ''}:${key.chain ?? ''}`
}
