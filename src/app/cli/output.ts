/**
 * Where a command's output goes. Without --json: lines for people on stdout.
 * With --json: stdout carries only JSON, one line per result (a --watch
 * prints one per change), and anything for people goes to stderr.
 */
export interface CliOutput {
  /** Whether --json was given; read when a command runs, after the command line is parsed. */
  readonly json: boolean
  /** A command's result: one JSON line of `value` under --json, otherwise the lines `human` gives. */
  result(value: unknown, human: () => string | readonly string[]): void
  /** Progress or advice for people: stdout without --json, stderr with it, so stdout stays JSON. */
  note(line: string): void
}

/** JSON as the CLI prints it: amounts and other bigints as decimal strings, never numbers that lose digits. */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
}

export function cliOutput(
  isJson: () => boolean,
  stdout: (line: string) => void,
  stderr: (line: string) => void,
): CliOutput {
  return {
    get json() {
      return isJson()
    },
    result(value, human) {
      if (isJson()) return stdout(jsonLine(value))
      const lines = human()
      for (const line of typeof lines === 'string' ? [lines] : lines) stdout(line)
    },
    note(line) {
      ;(isJson() ? stderr : stdout)(line)
    },
  }
}

/** Text someone else wrote (a provider record's GPU name, a relayer's detail) with its control characters shown as `?`, so it cannot drive the terminal. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')
}
