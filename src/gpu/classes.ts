/**
 * The GPU classes an order can name. A class is what the market prices and
 * what a compute challenge can tell apart: products of one architecture and
 * tier, matched by the name nvidia-smi reports. The code is what the chains
 * carry (the escrow's order, the vault memo); the id is what people type.
 * docs/PROTOCOL.md §10 holds this table with each class's figures.
 */
export interface GpuClass {
  code: number
  id: string
  /** Matches the product names nvidia-smi reports for the class, e.g. "NVIDIA H100 80GB HBM3". */
  names: RegExp
  /** Only tests and the devnet accept the class; a relayer refuses it unless told it runs one. */
  testOnly?: true
}

/**
 * The reference "device" of tests and the devnet: the CPU prover of
 * src/gpu/cpuProver.ts, reported by the dev kit's telemetry under this name.
 */
export const CPU_REFERENCE_NAME = 'Qantara CPU reference (tests only)'

export const GPU_CLASSES: readonly GpuClass[] = [
  { code: 0x0001, id: 'cpu-reference', names: /^Qantara CPU reference \(tests only\)$/, testOnly: true },
  { code: 0x0101, id: 'ampere-a100', names: /\bA100\b/ },
  { code: 0x0102, id: 'ampere-rtx30', names: /\bRTX 30[6-9]0( Ti)?\b/ },
  { code: 0x0201, id: 'ada-rtx40', names: /\bRTX 40[6-9]0( Ti| SUPER)?\b/ },
  { code: 0x0202, id: 'ada-l40', names: /\bL40S?\b/ },
  { code: 0x0301, id: 'hopper-h100', names: /\bH100\b/ },
  { code: 0x0302, id: 'hopper-h200', names: /\bH200\b/ },
  { code: 0x0401, id: 'blackwell-b200', names: /\bB200\b/ },
  { code: 0x0402, id: 'blackwell-rtx50', names: /\bRTX 50[6-9]0( Ti)?\b/ },
]

export function gpuClassById(id: string): GpuClass | undefined {
  return GPU_CLASSES.find((c) => c.id === id)
}

export function gpuClassByCode(code: number): GpuClass | undefined {
  return GPU_CLASSES.find((c) => c.code === code)
}
