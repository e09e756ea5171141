import { cpuReferenceProver, type ComputeProver } from '../../src/agent/prover.js'
import type { Telemetry } from '../../src/agent/telemetry.js'
import { commitOnCpu, answerOnCpu, type Committed } from '../../src/gpu/cpuProver.js'
import { rowLeaf, rowRoot, rowTree } from '../../src/gpu/rowCommitment.js'
import { referenceGpu } from '../../devkit/gpu/referenceGpu.js'

/** Slot length of the scripted orders, in seconds. */
export const SCRIPTED_SLOT = 3
/** How long the scripted provider stays silent after signing the heartbeat of the slot it goes dark in. */
const DARK_MS = 2_600
/** What the provider does in each slot of the order, and the status every honest relayer settles it with. */
export const SCRIPT = [
  ['honest: the CPU reference device, answering every challenge', 'C'],
  ['no GPU: nvidia-smi missing and no prover', 'M'],
  ['commits to a wrong C and signs rows of it', 'X'],
  ['commits 1.5 s late, past the class deadline of 1 s', 'U'],
  ["replays its first slot's commitment instead of computing", 'X'],
  ["signs the slot's heartbeat, then goes dark for the compute challenge that follows it", 'U'],
  ['dark for the whole slot, as in an outage: nothing is held against it', '.'],
  ['declines: the GPU in its telemetry, and no commitment to any challenge', 'D'],
  ['another GPU: the UUID changed from here on', 'W'],
] as const

/** C with the first entry of every row off by one, committed honestly: the rows are committed, and wrong. */
function wrongC(seed: Uint8Array, n: number): Committed {
  const right = commitOnCpu(seed, n)
  const c = Int32Array.from(right.c)
  for (let i = 0; i < n; i++) c[i * n] = c[i * n]! + 1
  const tree = rowTree(Array.from({ length: n }, (_, i) => rowLeaf(c.subarray(i * n, (i + 1) * n))))
  return { n, c, tree, root: rowRoot(tree) }
}

/** The provider's device slot by slot, by the wall clock, as SCRIPT says. */
export function scriptedDevice(slotOf: () => number): {
  prover: ComputeProver
  telemetry: () => Promise<Telemetry>
} {
  const honest = cpuReferenceProver()
  const held = new Map<string, Committed>()
  let first: Committed | undefined
  const key = (seed: Uint8Array, n: number) => `${Buffer.from(seed).toString('hex')}:${n}`
  const prover: ComputeProver = {
    async commit(seed, n, device, holder) {
      const slot = slotOf()
      if (slot === 1 || slot === 7) throw new Error('no GPU')
      // Silent past the relayers' request timeout (2.5 s): they never see an answer to the check. The next slot is dark
      // anyway, so no check of it waits behind this one.
      if (slot === 5) await new Promise((ok) => setTimeout(ok, DARK_MS))
      if (slot === 2) held.set(key(seed, n), wrongC(seed, n))
      if (slot === 3) await new Promise((ok) => setTimeout(ok, 1_500))
      if (slot === 4 && first) held.set(key(seed, n), first)
      if (slot !== 0 && held.has(key(seed, n))) return held.get(key(seed, n))!.root
      const root = await honest.commit(seed, n, device, holder)
      first ??= commitOnCpu(seed, n)
      return root
    },
    async answer(seed, n, revealSeed, device, holder) {
      const mine = held.get(key(seed, n))
      return mine
        ? { root: mine.root, answer: answerOnCpu(mine, revealSeed) }
        : honest.answer(seed, n, revealSeed, device, holder)
    },
  }
  const telemetry = (): Promise<Telemetry> => {
    const slot = slotOf()
    if (slot === 1) return Promise.resolve({ gpus: null, unavailable: 'nvidia-smi not found' })
    // The agent answers 500 to every challenge of the slot.
    if (slot === 6) return Promise.reject(new Error('host down'))
    return Promise.resolve({ gpus: [slot >= 8 ? referenceGpu(0, 'GPU-swapped-in') : referenceGpu()] })
  }
  return { prover, telemetry }
}
