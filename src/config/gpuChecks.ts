import { z } from 'zod'
import { DEFAULT_COMPUTE_CHALLENGE_RATE } from '../gpu/deadlines.js'
import { keySourceSchema } from './keySource.js'

/** The relayer config's fields for the GPU checks (docs/PROTOCOL.md §9), and the rule they must keep together. */
export const acceptTestGpuClasses = z
  .boolean()
  .default(false)
  .describe('take on orders for test-only GPU classes (cpu-reference); the devnet does, a real network never')

export const computeChallengeRate = z
  .number()
  .min(0)
  .max(1)
  .default(DEFAULT_COMPUTE_CHALLENGE_RATE)
  .describe(
    "share of each order's slots this relayer sends a compute challenge in (docs/PROTOCOL.md §9): 1/120 is one every two hours at 60 s slots; 0 sends none",
  )

export const challengeSecret = keySourceSchema
  .optional()
  .describe(
    'a secret every member holds and no provider does (32 bytes of hex or more): the members challenge the same slots, so a provider that does not answer one loses the slot for all (docs/PROTOCOL.md §9); needed when several members send compute challenges, and a quorum of one draws from its identity key',
  )

/** A check one relayer drew alone is outvoted by the members that did not draw it: the quorum must share the schedule. */
export function sharesChallengeSchedule(c: {
  quorum: { members: unknown[]; challengeSecret?: unknown }
  prober: { computeChallengeRate: number }
}): boolean {
  return (
    c.prober.computeChallengeRate === 0 ||
    c.quorum.members.length === 1 ||
    c.quorum.challengeSecret !== undefined
  )
}
