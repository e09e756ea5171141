/**
 * One error base for the whole project. Callers branch on `code`, never on
 * message text; `retryable` tells a loop whether trying again can help.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_UNREADABLE'
  | 'KEY_UNAVAILABLE'
  | 'KEY_INSECURE'
  | 'KEYSTORE_INVALID'
  | 'STORE_FAILED'
  | 'STORE_MIGRATION_FAILED'
  | 'RPC_UNAVAILABLE'
  | 'RPC_WRONG_CHAIN'
  | 'RPC_RANGE_REFUSED'
  | 'RPC_BAD_RESPONSE'
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
  | 'ABORTED'

export interface QantaraErrorOptions {
  retryable?: boolean
  details?: string
  metaMessages?: string[]
  cause?: unknown
}

export class QantaraError extends Error {
  override readonly name = 'QantaraError'
  readonly code: ErrorCode
  readonly retryable: boolean
  readonly shortMessage: string
  readonly details: string | undefined
  readonly metaMessages: string[]

  constructor(code: ErrorCode, shortMessage: string, options: QantaraErrorOptions = {}) {
    const lines = [shortMessage, ...(options.metaMessages ?? [])]
    if (options.details) lines.push(`Details: ${options.details}`)
    super(lines.join('\n'), options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
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

/**
 * The chain refused one signature of a quorum's set (malleated, not a member,
 * out of order). The others may still settle: the caller drops this one and
 * tries again, so no single signer can make an order fail.
 */
export class SignatureRefused extends QantaraError {
  constructor(readonly signature: string, shortMessage: string, options: Omit<QantaraErrorOptions, 'retryable'> = {}) {
    super('SIGNATURE_REFUSED', shortMessage, { ...options, retryable: true })
  }
}

export function isQantaraError(err: unknown, code?: ErrorCode): err is QantaraError {
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
