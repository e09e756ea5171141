import { gpuClassByCode, gpuClassById } from './classes.js'

/** What an order rents: `count` GPUs of one class, each with at least `minVramMiB` of memory. */
export interface GpuRequirement {
  /** A class id of GPU_CLASSES. */
  class: string
  count: number
  /** As nvidia-smi reports memory.total (a "24 GB" card reports about 24,564 MiB). */
  minVramMiB: number
}

export const MAX_GPUS_PER_ORDER = 16
const MAX_VRAM_MIB = 2 ** 32 - 1

export type GpuRequirementProblem = 'GPU_COUNT_OUT_OF_BOUNDS' | 'UNKNOWN_GPU_CLASS' | 'GPU_VRAM_OUT_OF_BOUNDS'

export function gpuRequirementProblem(g: GpuRequirement): GpuRequirementProblem | undefined {
  if (!Number.isSafeInteger(g.count) || g.count < 1 || g.count > MAX_GPUS_PER_ORDER)
    return 'GPU_COUNT_OUT_OF_BOUNDS'
  if (!gpuClassById(g.class)) return 'UNKNOWN_GPU_CLASS'
  if (!Number.isSafeInteger(g.minVramMiB) || g.minVramMiB < 0 || g.minVramMiB > MAX_VRAM_MIB)
    return 'GPU_VRAM_OUT_OF_BOUNDS'
  return undefined
}

/**
 * The requirement as the chains carry it, one 64-bit word: count (8 bits),
 * class code (16), minimum VRAM in MiB (32), then 8 zero bits kept for a
 * later version. The EVM escrow hashes it into the order; the vault memo
 * carries its 8 big-endian bytes.
 */
export function encodeGpuRequirement(g: GpuRequirement): bigint {
  const problem = gpuRequirementProblem(g)
  if (problem) throw new RangeError(`${problem}: ${JSON.stringify(g)}`)
  const code = gpuClassById(g.class)!.code
  return (BigInt(g.count) << 56n) | (BigInt(code) << 40n) | (BigInt(g.minVramMiB) << 8n)
}

/**
 * The requirement a chain's word carries, or undefined when the word is not
 * one (the reserved bits set). A class code this build does not know reads
 * as class `unknown-<code>`, which `gpuRequirementProblem` refuses, so the
 * order is seen and turned down rather than lost.
 */
export function decodeGpuRequirement(word: bigint): GpuRequirement | undefined {
  if (word < 0n || word >= 1n << 64n || (word & 0xffn) !== 0n) return undefined
  const code = Number((word >> 40n) & 0xffffn)
  return {
    class: gpuClassByCode(code)?.id ?? `unknown-${code.toString(16).padStart(4, '0')}`,
    count: Number(word >> 56n),
    minVramMiB: Number((word >> 8n) & 0xffff_ffffn),
  }
}

/**
 * Reads the CLI's form, `COUNTxCLASS` with an optional `:VRAM` in MiB or
 * GiB: `1xhopper-h100`, `2xada-rtx40:24000MiB`, `8xhopper-h200:140GiB`.
 */
export function parseGpuRequirement(text: string): GpuRequirement {
  const m = /^(\d{1,2})x([a-z0-9-]{1,32})(?::(\d{1,10})(MiB|GiB))?$/.exec(text)
  if (!m)
    throw new RangeError(
      `"${text}" is not COUNTxCLASS[:VRAM(MiB|GiB)], e.g. 1xhopper-h100 or 2xada-rtx40:24000MiB`,
    )
  const vram = m[3] === undefined ? 0 : Number(m[3]) * (m[4] === 'GiB' ? 1024 : 1)
  const g = { class: m[2]!, count: Number(m[1]), minVramMiB: vram }
  const problem = gpuRequirementProblem(g)
  if (problem) throw new RangeError(`${problem}: "${text}"`)
  return g
}

export function formatGpuRequirement(g: GpuRequirement): string {
  return `${g.count}x${g.class}${g.minVramMiB ? `:${g.minVramMiB}MiB` : ''}`
}
