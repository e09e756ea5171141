// CPU time of processes, from /proc (Linux), for benchmarks that report per-core efficiency.
import { readdirSync, readFileSync } from 'node:fs'

const TICK_MS = 10 // USER_HZ is 100 on Linux

function stat(pid: number): { ppid: number; ms: number } | undefined {
  try {
    // Fields after the command name: state ppid … utime(14) stime(15) cutime(16) cstime(17), counted from 1.
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return {
      ppid: Number(f[1]),
      ms: (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS,
    }
  } catch {
    return undefined
  }
}

/** CPU milliseconds used by `roots` and every live process below them, with the children they have reaped. */
export function cpuMs(roots: readonly number[]): number {
  const all = new Map<number, { ppid: number; ms: number }>()
  for (const name of readdirSync('/proc')) {
    const pid = Number(name)
    const s = Number.isInteger(pid) ? stat(pid) : undefined
    if (s) all.set(pid, s)
  }
  const within = (pid: number): boolean => {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = all.get(p)?.ppid)
      if (roots.includes(p)) return true
    return false
  }
  let ms = 0
  for (const [pid, s] of all) if (within(pid)) ms += s.ms
  return ms
}
