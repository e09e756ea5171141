/**
 * One error base for the whole project. Callers branch on `code`, and on the
 * typed `context` of the codes that carry one (narrow with
 * `isQantaraError(err, code)` first), never on message text or `details`,
 * which are for people; `retryable` tells a loop whether trying again can help.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_UNREADABLE'
  | 'KEY_UNAVAILABLE'
  | 'KEY_INSECURE'
  | 'KEYSTORE_INVALID'
  | 'STORE_FAILED'
  | 'STORE_MIGRATION_FAILED'
  | 'FENCED'
  | 'RPC_UNAVAILABLE'
  | 'RPC_WRONG_CHAIN'
  | 'RPC_RANGE_REFUSED'
  | 'RPC_BAD_RESPONSE'
  | 'RPC_NOT_FOUND'
  | 'REORG_BEYOND_FINALITY'
  | 'EVENT_MALFORMED'
  | 'SUBMIT_REVERTED'
  | 'SUBMIT_FAILED'
  | 'SIGNATURE_REFUSED'
  | 'ROTATION_REFUSED'
  | 'COSIGN_REFUSED'
  | 'ENDPOINT_REFUSED'
  | 'ENDPOINT_TIMEOUT'
  | 'ENDPOINT_UNREACHABLE'
  | 'RESPONSE_TOO_LARGE'
  | 'RECORD_REJECTED'
  | 'TELEMETRY_INVALID'
  | 'GPU_HELPER_FAILED'
  | 'GPU_HELPER_REFUSED'
  | 'ABORTED'

/** What callers may branch on, per code; a code missing here carries no context. */
export interface ErrorContexts {
  /** The escrow refused a write: its custom error's name, or the local refusal (GasAboveCap, MinedRevert, UnknownOrder, AlreadyRefunded, NotOwedInBtc). */
  SUBMIT_REVERTED: { revert: string }
  /** The chain refused one signature of a quorum's set (malleated, not a member, out of order); the others may still settle. */
  SIGNATURE_REFUSED: { signature: string; revert: string }
  /** Why a co-signer will not sign a release: a stable word (ALREADY_RELEASED, ORDER_CLOSED, NOT_SETTLED_HERE, NOT_COSIGNED) or the reason itself. */
  COSIGN_REFUSED: { reason: string }
  /** Which check a provider record failed (a RecordRejection of the registry, or the renter CLI's own). */
  RECORD_REJECTED: { reason: string }
  /** The GPU helper process is gone and was killed if it was not: start a new one. */
  GPU_HELPER_FAILED: { reason: 'EXITED' | 'TIMEOUT' | 'BAD_REPLY' | 'REPLY_TOO_LARGE' | 'CLOSED' }
  /** A deposed leader's chain write, refused by the store: the lease token it held. */
  FENCED: { token: number }
  /** The GPU helper refused one request and still runs: its error code (docs/PROTOCOL.md §9, "Provider helper"). */
  GPU_HELPER_REFUSED: { error: string }
}

export type ErrorContextOf<C extends ErrorCode> = C extends keyof ErrorContexts ? ErrorContexts[C] : undefined

export interface QantaraErrorOptions {
  retryable?: boolean
  /** More about the failure, for people. */
  details?: string
  metaMessages?: string[]
  cause?: unknown
}

/** A code with a context must be given one. */
type OptionsFor<C extends ErrorCode> = C extends keyof ErrorContexts
  ? [QantaraErrorOptions & { context: ErrorContexts[C] }]
  : [QantaraErrorOptions?]

export class QantaraError<C extends ErrorCode = ErrorCode> extends Error {
  override readonly name = 'QantaraError'
  readonly code: C
  readonly context: ErrorContextOf<C>
  readonly retryable: boolean
  readonly shortMessage: string
  readonly details: string | undefined
  readonly metaMessages: string[]

  constructor(code: C, shortMessage: string, ...[options = {}]: OptionsFor<C>) {
    const lines = [shortMessage, ...(options.metaMessages ?? [])]
    if (options.details) lines.push(`Details: ${options.details}`)
    super(lines.join('\n'), options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.context = ('context' in options ? options.context : undefined) as ErrorContextOf<C>
    this.shortMessage = shortMessage
    this.retryable = options.retryable ?? false
    this.details = options.details
    this.metaMessages = options.metaMessages ?? []
  }

  /** Walks the cause chain; returns the first error `fn` accepts, or the deepest one. */
  walk(fn?: (err: unknown) => boolean): unknown {
    return walkCauses(this, fn)
  }
}

function walkCauses(err: unknown, fn?: (err: unknown) => boolean): unknown {
  if (fn?.(err)) return err
  const next = err instanceof Error ? err.cause : undefined
  if (next === undefined) return fn ? undefined : err
  return walkCauses(next, fn)
}

export function isQantaraError<C extends ErrorCode = ErrorCode>(
  err: unknown,
  code?: C,
): err is QantaraError<C> {
  return err instanceof QantaraError && (code === undefined || err.code === code)
}

export function errorMessage(err: unknown): string {
  if (err instanceof QantaraError) return err.shortMessage
  if (err instanceof Error) return err.message
  return String(err)
}

/** The `default` of a switch that covers every case: a new case fails to compile until it is handled. */
export function assertNever(value: never): never {
  throw new TypeError(`unhandled case ${JSON.stringify(value)}`)
}
