import { createHash } from 'node:crypto'

/** This relayer's place in line to do `task` (an order's submission, a relay's retarget): 0 submits first. Every relayer computes the same order. */
export function submitterRank(task: string, members: string[], self: string): number {
  const ranked = [...members].sort((a, b) => {
    const ha = createHash('sha256').update(`${task}:${a}`).digest('hex')
    const hb = createHash('sha256').update(`${task}:${b}`).digest('hex')
    return ha < hb ? -1 : ha > hb ? 1 : 0
  })
  return Math.max(0, ranked.indexOf(self))
}
