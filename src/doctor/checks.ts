import { errorMessage } from '../errors.js'
import type { DoctorCheck } from '../family.js'
import { redactUrl, redactUrls } from '../http/redactUrl.js'

type Finding = Omit<DoctorCheck, 'subject'>

/** The longest one check may take, whatever an RPC or peer does: a doctor that hangs tells an operator nothing. */
const CHECK_DEADLINE_MS = 30_000

export const ok = (detail: string): Finding => ({ level: 'ok', detail })
export const warn = (detail: string, fix: string): Finding => ({ level: 'warn', detail, fix })
export const problem = (detail: string, fix: string): Finding => ({ level: 'problem', detail, fix })

/** Runs one check; whatever it throws is its problem, never the doctor's end. Messages are redacted: a URL may carry an API key. */
export async function check(
  subject: string,
  run: () => Promise<Finding>,
  fixOnError = 'see the error above',
): Promise<DoctorCheck> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${CHECK_DEADLINE_MS / 1000} s`)),
      CHECK_DEADLINE_MS,
    )
  })
  try {
    const found = await Promise.race([run(), deadline])
    return { subject, ...found, detail: redactUrls(found.detail) }
  } catch (err) {
    return { subject, level: 'problem', detail: redactUrls(oneLine(err)), fix: fixOnError }
  } finally {
    clearTimeout(timer)
  }
}

/** An error as one line: a library's short message where it has one, and the system error under it (ECONNREFUSED). */
function oneLine(err: unknown): string {
  const short = (err as { shortMessage?: unknown }).shortMessage
  const text = (typeof short === 'string' ? short : errorMessage(err)).split('\n')[0]!
  let cause: unknown = err
  for (let depth = 0; depth < 8 && cause instanceof Error; depth++) {
    const code = (cause as { code?: unknown }).code
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return `${text} (${code})`
    cause = cause.cause
  }
  return text
}

/**
 * Each of a chain's RPCs: reachable, and serving the configured chain. The
 * first that is both is the one the chain's other checks read.
 */
export async function eachRpc(
  chain: string,
  urls: readonly string[],
  read: (url: string) => Promise<{ served: string; head: string }>,
): Promise<{ checks: DoctorCheck[]; live?: string }> {
  const checks: DoctorCheck[] = []
  let live: string | undefined
  for (const url of urls) {
    checks.push(
      await check(
        `${chain} rpc ${redactUrl(url)}`,
        async () => {
          const { served, head } = await read(url)
          if (served !== chain)
            return problem(
              `serves ${served}, not ${chain}`,
              `give an RPC of ${chain}, or correct the chain's id`,
            )
          live ??= url
          return ok(`serves ${chain}, head ${head}`)
        },
        'check the URL, its API key and that the node is up; another configured RPC is used meanwhile',
      ),
    )
  }
  return live ? { checks, live } : { checks }
}
