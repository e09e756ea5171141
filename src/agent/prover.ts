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
  /** The Merkle root of C's rows, C kept for `holder` (the asking relayer's key) until its next commit. */
  commit(seed: Uint8Array, n: number, device: number, holder: string): Promise<string>
  /** The root committed for this seed and size and the drawn rows, or undefined when nothing is committed for them (never, or dropped since). */
  answer(
    seed: Uint8Array,
    n: number,
    revealSeed: Uint8Array,
    device: number,
    holder: string,
  ): Promise<{ root: string; answer: ChallengeAnswer } | undefined>
}

/** Relayers whose commitments the CPU reference keeps at once, each one C per GPU. */
const HOLDERS = 16
/** The largest size the CPU reference takes: above it a relayer is asking for real GPU work. */
export const CPU_REFERENCE_MAX_N = 256

const keyOf = (seed: Uint8Array, n: number) => `${Buffer.from(seed).toString('hex')}:${n}`

/**
 * The CPU reference prover, in the agent's process: O(n³) on one core,
 * instant at the test class's size. It keeps each relayer's commitments
 * apart (the last few of each, by seed), so no relayer's commit drops
 * another's, nor one relayer's check of one order its check of another.
 */
export function cpuReferenceProver(): ComputeProver {
  const byHolder = new Map<string, Map<string, Committed>>()
  return {
    commit(seed, n, _device, holder) {
      if (n > CPU_REFERENCE_MAX_N)
        return Promise.reject(new RangeError(`the CPU reference proves n ≤ ${CPU_REFERENCE_MAX_N}, not ${n}`))
      let held = byHolder.get(holder)
      byHolder.delete(holder)
      byHolder.set(holder, (held ??= new Map<string, Committed>()))
      while (byHolder.size > HOLDERS) byHolder.delete(byHolder.keys().next().value!)
      const key = keyOf(seed, n)
      const committed = held.get(key) ?? commitOnCpu(seed, n)
      held.delete(key)
      held.set(key, committed)
      while (held.size > 2 * MAX_GPUS_PER_ORDER) held.delete(held.keys().next().value!)
      return Promise.resolve(committed.root)
    },
    answer(seed, n, revealSeed, _device, holder) {
      const committed = byHolder.get(holder)?.get(keyOf(seed, n))
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
    commit: (seed, n, device, holder) => on(device).commit(seed, n, device, holder),
    answer: (seed, n, revealSeed, device, holder) => on(device).answer(seed, n, revealSeed, device, holder),
  }
}

/**
 * One GPU's helper: it keeps one C per holder (in host memory; the GPU's
 * memory goes back to the renter at the commit), so a reveal answers that
 * holder's latest commitment, and C is released once answered (the agent
 * keeps the answer for a retry).
 */
function oneHelper(helper: GpuHelper): ComputeProver {
  const latest = new Map<string, { key: string; root: string }>()
  return {
    async commit(seed, n, _device, holder) {
      latest.delete(holder)
      const { root } = await helper.commit(seed, n, holder)
      latest.set(holder, { key: keyOf(seed, n), root })
      return root
    },
    async answer(seed, n, revealSeed, _device, holder) {
      const mine = latest.get(holder)
      if (mine?.key !== keyOf(seed, n)) return undefined
      try {
        const answer = await helper.answer(seed, n, revealSeed, holder)
        // Unless this holder's next commit has started since (it replaces C anyway, and must not lose its own).
        if (latest.get(holder) === mine) {
          latest.delete(holder)
          await helper.release(holder)
        }
        return { root: mine.root, answer }
      } catch (err) {
        if (isQantaraError(err, 'GPU_HELPER_REFUSED')) return undefined
        throw err
      }
    },
  }
}
