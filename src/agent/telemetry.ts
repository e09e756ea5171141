import { QantaraError } from '../errors.js'
import { execFile } from 'node:child_process'
import type { GpuTelemetry } from '../heartbeat/schema.js'

/** What the agent asks nvidia-smi for, in this order. */
export const GPU_QUERY = [
  'index',
  'name',
  'uuid',
  'memory.total',
  'memory.used',
  'utilization.gpu',
  'temperature.gpu',
  'power.draw',
] as const

export type Telemetry =
  { gpus: GpuTelemetry[]; unavailable?: undefined } | { gpus: null; unavailable: string }

const MISSING = /^\[?(N\/A|Not Supported|Unknown Error|Insufficient Permissions|GPU is lost)\]?$/i

/**
 * Parses `--format=csv,noheader,nounits` output of `--query-gpu=<fields>`.
 * Values nvidia-smi cannot read ([N/A], [Not Supported]) become null; a line
 * with the wrong number of fields is an error, not a guess.
 */
export function parseNvidiaSmiCsv(output: string, fields: readonly string[]): GpuTelemetry[] {
  const lines = output
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '')
  return lines.map((line, row) => {
    const cells = line.split(',').map((c) => c.trim())
    if (cells.length !== fields.length)
      throw new QantaraError(
        'TELEMETRY_INVALID',
        `nvidia-smi line ${row + 1} has ${cells.length} fields, expected ${fields.length}`,
      )
    const get = (name: string) => {
      const i = fields.indexOf(name)
      const v = i < 0 ? undefined : cells[i]
      return v === undefined || MISSING.test(v) ? null : v
    }
    return {
      index: integer(get('index')) ?? row,
      name: get('name') ?? 'unknown',
      uuid: get('uuid') ?? get('gpu_uuid') ?? '',
      memoryTotalMiB: integer(get('memory.total')),
      memoryUsedMiB: integer(get('memory.used')),
      utilizationPct: integer(get('utilization.gpu')),
      temperatureC: integer(get('temperature.gpu')),
      powerDrawMilliwatts: milli(get('power.draw')),
    }
  })
}

function integer(v: string | null): number | null {
  return v !== null && /^\d+$/.test(v) ? Number(v) : null
}

/** "176.98" watts → 176980 milliwatts, without a float. */
function milli(v: string | null): number | null {
  const m = v === null ? null : /^(\d+)(?:\.(\d{1,3})\d*)?$/.exec(v)
  return m ? Number(m[1]) * 1000 + Number((m[2] ?? '').padEnd(3, '0')) : null
}

/** Reads telemetry from nvidia-smi; when it is missing or fails, says why instead of inventing numbers. */
export function readGpuTelemetry(binary = 'nvidia-smi', timeoutMs = 5_000): Promise<Telemetry> {
  return new Promise((resolve) => {
    execFile(
      binary,
      [`--query-gpu=${GPU_QUERY.join(',')}`, '--format=csv,noheader,nounits'],
      { timeout: timeoutMs, maxBuffer: 256 * 1024 },
      (err, stdout) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code
          return resolve({
            gpus: null,
            unavailable:
              code === 'ENOENT' ? `${binary} not found` : `${binary} failed: ${err.message.split('\n')[0]}`,
          })
        }
        try {
          resolve({ gpus: parseNvidiaSmiCsv(stdout, GPU_QUERY).slice(0, 16) })
        } catch (parseErr) {
          resolve({ gpus: null, unavailable: (parseErr as Error).message })
        }
      },
    )
  })
}

/** Caches telemetry for `ttlMs`, so a burst of challenges runs nvidia-smi once. */
export function cachedTelemetry(read: () => Promise<Telemetry>, ttlMs: number): () => Promise<Telemetry> {
  let cached: { at: number; value: Promise<Telemetry> } | undefined
  return () => {
    const now = Date.now()
    if (!cached || now - cached.at > ttlMs) cached = { at: now, value: read() }
    return cached.value
  }
}
