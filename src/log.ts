import { pino, type Logger } from 'pino'

export type { Logger }

/** Paths pino censors wherever they appear, so a key can never reach a log line. */
const REDACT = ['privateKey', '*.privateKey', 'password', '*.password', 'key', '*.key', 'secret', '*.secret']

export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: options.name ?? 'qantara',
    level: options.level ?? process.env.QANTARA_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
  })
}

/** A logger that drops everything; for tests and library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
