import { isQantaraError } from '../errors.js'
import { answerOnCpu, commitOnCpu, type Committed } from '../gpu/cpuProver.js'
import type { ChallengeAnswer } from '../gpu/freivalds.js'
import { MAX_GPUS_PER_ORDER } from '../gpu/requirement.js'
import type { GpuHelper } from './gpuHelper.js'

/**
 * The agent's side of one product of a compute challenge: commit to C = A·B
 * for a seed and size on one of the host's GPUs (`device`, the product's
 * index: an order of k GPUs gets k products at once), then answer a reveal
 * from the committed C. The GPU helper (gpu/helper) is the production
 * prover; the CPU reference is for tests and the devnet, whose class no
 * production relayer accepts.
 */
export interface ComputeProver {
  /** The Merkle root of C's rows. */
  commit(seed: Uint8Array, n: number, device: number): Promise<string>
  /** The root committed for this seed and size and the drawn rows, or undefined when nothing is committed for them (never, or dropped since). */
  answer(
    seed: Uint8Array,
    n: number,
    revealSeed: Uint8Array,
    device: number,
  ): Promise<{ root: string; answer: ChallengeAnswer } | undefined>
}

/** Products held at once: a quorum's relayers check the same slot, each with up to MAX_GPUS_PER_ORDER products. */
const HELD = 3 * MAX_GPUS_PER_ORDER
/** The largest size the CPU reference takes: above it a relayer is asking for real GPU work. */
export const CPU_REFERENCE_MAX_N = 256

const keyOf = (seed: Uint8Array, n: number) => `${Buffer.from(seed).toString('hex')}:${n}`

/** The CPU reference prover, in the agent's process: O(n³) on one core, instant at the test class's size. */
export function cpuReferenceProver(): ComputeProver {
  const held = new Map<string, Committed>()
  return {
    commit(seed, n) {
      if (n > CPU_REFERENCE_MAX_N)
        return Promise.reject(new RangeError(`the CPU reference proves n ≤ ${CPU_REFERENCE_MAX_N}, not ${n}`))
      const k = keyOf(seed, n)
      const committed = held.get(k) ?? commitOnCpu(seed, n)
      held.delete(k)
      held.set(k, committed)
      while (held.size > HELD) held.delete(held.keys().next().value!)
      return Promise.resolve(committed.root)
    },
    answer(seed, n, revealSeed) {
      const committed = held.get(keyOf(seed, n))
      return Promise.resolve(
        committed && { root: committed.root, answer: answerOnCpu(committed, revealSeed) },
      )
    },
  }
}

/**
 * GPU helpers as a prover, one per GPU (product i goes to helper i, wrapping
 * round when an order has more GPUs than the host: those products then queue
 * on one GPU, and are late or lost, as they should be).
 */
export function helperProver(helpers: readonly GpuHelper[]): ComputeProver {
  if (helpers.length === 0) throw new RangeError('a helper prover needs at least one GPU helper')
  const provers = helpers.map(oneHelper)
  const on = (device: number) => provers[device % provers.length]!
  return {
    commit: (seed, n, device) => on(device).commit(seed, n, device),
    answer: (seed, n, revealSeed, device) => on(device).answer(seed, n, revealSeed, device),
  }
}

/**
 * One GPU's helper: it holds one C at a time, so a reveal answers only the
 * latest commitment, and C is released once answered, so its memory goes
 * back to the renter between challenges (the agent keeps the answer for a
 * retry).
 */
function oneHelper(helper: GpuHelper): ComputeProver {
  let latest: { key: string; root: string } | undefined
  return {
    async commit(seed, n) {
      latest = undefined
      const { root } = await helper.commit(seed, n)
      latest = { key: keyOf(seed, n), root }
      return root
    },
    async answer(seed, n, revealSeed) {
      if (latest?.key !== keyOf(seed, n)) return undefined
      const { root } = latest
      try {
        const answer = await helper.answer(seed, n, revealSeed)
        // Unless another challenge's commit has started since (it replaces C anyway, and must not lose its own).
        if (latest?.key === keyOf(seed, n)) {
          latest = undefined
          await helper.release()
        }
        return { root, answer }
      } catch (err) {
        if (isQantaraError(err, 'GPU_HELPER_REFUSED')) return undefined
        throw err
      }
    },
  }
}
