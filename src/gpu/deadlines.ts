/**
 * The compute challenge each GPU class gets: its size n and the time from
 * sending the challenge to holding the provider's commitment. The deadline
 * covers the matmul, reading C back, hashing its rows and a round trip; the
 * arithmetic behind each figure is in docs/PROTOCOL.md §10.
 *
 * Provisional: no production figure has been measured on hardware yet
 * (`npm run gpu:check` has not run on an NVIDIA GPU; BENCHMARKS.md says where
 * it has). Until it has, these are estimates from vendors' peak figures.
 */
/**
 * Share of an order's slots each relayer challenges by default: one slot in
 * 120, every two hours at 60 s slots, so a quorum of three challenges an
 * order about every 40 minutes. Each relayer checks its own transcripts and
 * every peer's, so its CPU grows with the quorum (BENCHMARKS.md).
 */
export const DEFAULT_COMPUTE_CHALLENGE_RATE = 1 / 120

export interface ChallengeSize {
  n: number
  commitMs: number
}

export const CHALLENGE_SIZES: Readonly<Record<string, ChallengeSize>> = {
  // Tests and the devnet: the CPU reference in the agent's process, on a slow shared CI machine.
  'cpu-reference': { n: 96, commitMs: 1_000 },
  'ampere-a100': { n: 16_384, commitMs: 800 },
  'ampere-rtx30': { n: 16_384, commitMs: 1_300 },
  'ada-rtx40': { n: 16_384, commitMs: 1_200 },
  'ada-l40': { n: 16_384, commitMs: 900 },
  'hopper-h100': { n: 16_384, commitMs: 700 },
  'hopper-h200': { n: 16_384, commitMs: 700 },
  'blackwell-b200': { n: 16_384, commitMs: 600 },
  'blackwell-rtx50': { n: 16_384, commitMs: 1_000 },
}

/** The challenge of `count` GPUs of a class: one challenge per order, sized for one GPU of the class. */
export function challengeSizeOf(gpuClass: string): ChallengeSize | undefined {
  return CHALLENGE_SIZES[gpuClass]
}
