import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The built CLIs, run as a user runs them: `qantara`, and the dev kit's (the devnet). */
export const QANTARA = fileURLToPath(new URL('../../dist/src/app/cli/main.js', import.meta.url))
export const DEVKIT = fileURLToPath(new URL('../../dist/devkit/cli.js', import.meta.url))

export interface CliOptions {
  /** Which CLI; `qantara` when absent. */
  cli?: string
  env?: NodeJS.ProcessEnv
  timeoutMs?: number
}

/** How a CLI run ended: its exit code (-1 when it was killed), and its output, stdout trimmed. */
export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs a CLI command to its end; a failing command resolves too, with its code. */
export function runCli(args: string[], o: CliOptions = {}): Promise<CliResult> {
  return new Promise((ok) => {
    execFile(
      process.execPath,
      [o.cli ?? QANTARA, ...args],
      { timeout: o.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024, env: o.env ?? process.env },
      (err, stdout, stderr) => {
        ok({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout: stdout.trim(), stderr })
      },
    )
  })
}

/** The last line a command printed, parsed as JSON: the commands that report end with one JSON line. */
export function lastJsonLine<T = unknown>(stdout: string): T {
  return JSON.parse(stdout.split('\n').at(-1) ?? 'null') as T
}

/** Runs a command that must succeed and parses the JSON line it ends with; a failure throws with the end of its stderr. */
export async function cliJson<T>(args: string[], o: CliOptions = {}): Promise<T> {
  const r = await runCli(args, o)
  if (r.code !== 0)
    throw new Error(`${args.slice(0, 2).join(' ')} exited with ${r.code}\n${r.stderr.slice(-3000)}`)
  return lastJsonLine<T>(r.stdout)
}
