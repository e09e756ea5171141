import { chmodSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CPU_REFERENCE_NAME } from '../../src/gpu/classes.js'
import { encodeGpuRequirement, type GpuRequirement } from '../../src/gpu/requirement.js'
import type { GpuTelemetry } from '../../src/heartbeat/schema.js'

/** What a dev-kit order rents: the CPU reference, which the devnet's relayers accept and production ones refuse. */
export const REFERENCE_ORDER_GPU: GpuRequirement = { class: 'cpu-reference', count: 1, minVramMiB: 0 }

/** The device the dev kit's providers report: the CPU reference prover, under its test-only class name. */
export function referenceGpu(index = 0, uuid = `GPU-qantara-cpu-reference-${index}`): GpuTelemetry {
  return {
    index,
    name: CPU_REFERENCE_NAME,
    uuid,
    memoryTotalMiB: 16_384,
    memoryUsedMiB: 0,
    utilizationPct: 0,
    temperatureC: 40,
    powerDrawMilliwatts: 0,
  }
}

/**
 * Writes an `nvidia-smi` for the dev kit's agent to run in `dir`: it prints
 * the GPUs last given to `setGpus` in nvidia-smi's CSV form, so a test can
 * swap a provider's GPUs mid-order. There is no GPU here; the agent's real
 * telemetry path (execFile and parse) is what runs.
 */
export function referenceNvidiaSmi(
  dir: string,
  gpus: GpuTelemetry[],
): { path: string; setGpus: (g: GpuTelemetry[]) => void } {
  const csv = join(dir, 'gpus.csv')
  const setGpus = (list: GpuTelemetry[]) => {
    const cell = (v: number | string | null) => (v === null ? '[N/A]' : String(v))
    const lines = list.map((g) =>
      [g.index, g.name, g.uuid, g.memoryTotalMiB, g.memoryUsedMiB, g.utilizationPct, g.temperatureC]
        .map(cell)
        .concat(g.powerDrawMilliwatts === null ? '[N/A]' : (g.powerDrawMilliwatts / 1000).toFixed(2))
        .join(', '),
    )
    writeFileSync(`${csv}.tmp`, lines.map((l) => `${l}\n`).join(''))
    renameSync(`${csv}.tmp`, csv)
  }
  setGpus(gpus)
  const path = join(dir, 'nvidia-smi')
  writeFileSync(path, `#!/bin/sh\nexec cat '${csv}'\n`)
  chmodSync(path, 0o755)
  return { path, setGpus }
}

/** REFERENCE_ORDER_GPU as the EVM escrow's order carries it. */
export const REFERENCE_GPU_WORD = encodeGpuRequirement(REFERENCE_ORDER_GPU)
