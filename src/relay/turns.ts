import { createHash } from 'node:crypto'

/**
 * Turn-taking and backoff, the one policy every relayer task follows: for a
 * task only one member should do (post a settlement, prove a payout, move a
 * light relay), members queue in an order every relayer computes alike, and
 * each waits `failoverSeconds` more than the one before it, from the moment
 * the task became possible here.
 */
export interface TurnPolicy {
  relayerId: string
  /** Every quorum member's id, this relayer's included. */
  members: readonly string[]
  failoverSeconds: number
}

/** This relayer's place in line to do `task` (an order's submission, a relay's retarget): 0 goes first. */
export function submitterRank(task: string, members: readonly string[], self: string): number {
  const key = (member: string) => createHash('sha256').update(`${task}:${member}`).digest('hex')
  const ranked = [...members].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
  return Math.max(0, ranked.indexOf(self))
}

/** When this relayer's turn at `task` comes, for a task possible since `sinceMs`. */
export function turnAt(policy: TurnPolicy, task: string, sinceMs: number): number {
  return sinceMs + submitterRank(task, policy.members, policy.relayerId) * policy.failoverSeconds * 1000
}

export function isMyTurn(policy: TurnPolicy, task: string, sinceMs: number, nowMs: number): boolean {
  return nowMs >= turnAt(policy, task, sinceMs)
}

/** How long to wait after the `failures`-th failure in a row: 1 s, doubling, at most a minute. */
export function backoffMs(failures: number): number {
  return Math.min(60_000, 500 * 2 ** Math.max(1, failures))
}
