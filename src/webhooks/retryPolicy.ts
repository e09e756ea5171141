export interface RetryPolicy {
  /** Attempts per delivery, the first included. */
  maxAttempts: number
  /** Wait before the second attempt; each later wait doubles, up to maxDelayMs. */
  baseDelayMs: number
  maxDelayMs: number
  /** No attempt is scheduled later than this after the event was emitted. */
  maxAgeMs: number
}

/** Two to four minutes of retries in all: long enough to ride out a receiver's deploy, short enough to bound the queue. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 2_000,
  maxDelayMs: 120_000,
  maxAgeMs: 3_600_000,
}

/** One attempt's outcome: the receiver's status (and Retry-After, in seconds), or why none came. */
export type AttemptResult = { status: number; retryAfterSeconds?: number } | { error: string }

export type NextStep =
  { kind: 'delivered' } | { kind: 'failed'; reason: string } | { kind: 'retry'; delayMs: number }

/**
 * What follows an attempt. 2xx is delivered. Any other 4xx is the receiver
 * refusing this payload, and the same payload will be refused again; a
 * redirect is a URL to fix, and is never followed (a receiver cannot send our
 * signed POSTs elsewhere). 408, 429, 5xx, timeouts and connection errors may
 * pass: retried with exponential backoff and jitter, so that the relayers of
 * a quorum, all retrying the same event, do not hit a recovering receiver in
 * step. A Retry-After longer than the backoff is honoured, within maxDelayMs.
 */
export function nextStep(o: {
  result: AttemptResult
  /** Attempts made, this one included. */
  attempts: number
  /** From emission to now. */
  ageMs: number
  policy: RetryPolicy
  /** In [0, 1). */
  random: () => number
}): NextStep {
  const { result, policy } = o
  if ('status' in result) {
    const s = result.status
    if (s >= 200 && s < 300) return { kind: 'delivered' }
    if (s >= 300 && s < 400) return { kind: 'failed', reason: `HTTP ${s}: redirects are not followed` }
    if (s < 500 && s !== 408 && s !== 429) return { kind: 'failed', reason: `HTTP ${s}` }
  }
  const why = 'status' in result ? `HTTP ${result.status}` : result.error
  if (o.attempts >= policy.maxAttempts)
    return { kind: 'failed', reason: `${why}; gave up after ${o.attempts} attempts` }
  const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (o.attempts - 1))
  // Equal jitter: at least half the backoff, so a burst of failures still spreads out.
  let delayMs = Math.round(backoff / 2 + (o.random() * backoff) / 2)
  const asked = 'status' in result ? result.retryAfterSeconds : undefined
  if (asked !== undefined) delayMs = Math.max(delayMs, Math.min(policy.maxDelayMs, asked * 1_000))
  if (o.ageMs + delayMs > policy.maxAgeMs)
    return { kind: 'failed', reason: `${why}; gave up: the event is older than ${policy.maxAgeMs} ms` }
  return { kind: 'retry', delayMs }
}
