import { pino, type DestinationStream, type Logger } from 'pino'
import { QantaraError } from './errors.js'
import { redactUrls } from './http/redactUrl.js'

export type { Logger }

/** Paths pino censors wherever they appear, so a key can never reach a log line. */
const REDACT = ['privateKey', '*.privateKey', 'password', '*.password', 'key', '*.key', 'secret', '*.secret']

export function createLogger(
  options: { level?: string; name?: string } = {},
  destination?: DestinationStream,
): Logger {
  const o = {
    name: options.name ?? 'qantara',
    level: options.level ?? process.env.QANTARA_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: { err: serializeError },
  }
  return destination ? pino(o, destination) : pino(o)
}

/** Cause chains deeper than this are cut: a cause is an RPC's or a peer's error, and they nest without bound. */
const MAX_CAUSES = 5

/**
 * How an `err` field is logged: a QantaraError with its code, typed context,
 * details and retryability, any error with its message, and the chain of
 * causes below it, so the line says what failed and why without a stack dump.
 */
export function serializeError(err: unknown, depth = 0): Record<string, unknown> | string {
  if (!(err instanceof Error)) return redactUrls(String(err))
  const out: Record<string, unknown> = {
    type: err.name,
    // Libraries name the URL they called, and an RPC URL may carry its API key.
    message: redactUrls(err instanceof QantaraError ? err.shortMessage : err.message),
  }
  if (err instanceof QantaraError) {
    out.code = err.code
    if (err.context !== undefined) out.context = err.context
    if (err.details !== undefined) out.details = redactUrls(err.details)
    out.retryable = err.retryable
  } else {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string') out.code = code
  }
  if (err.cause !== undefined) out.cause = depth < MAX_CAUSES ? serializeError(err.cause, depth + 1) : '…'
  return out
}

/** A logger that drops everything; for tests and library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
