import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import type { GpuTelemetry } from '../heartbeat/schema.js'
import type { Telemetry } from './telemetry.js'

/** The routes the agent serves, as metrics name them; anything else is `other`. */
const ROUTES: Record<string, string> = {
  '/v1/heartbeat': 'heartbeat',
  '/v1/reveal': 'reveal',
  '/v1/provider': 'provider',
  '/healthz': 'healthz',
}

export const agentRoute = (path: string): string => ROUTES[path] ?? 'other'

/** A scrape collects every gauge at once: they share one nvidia-smi reading, taken at most this often. */
const READING_MS = 1_000

/**
 * A provider agent's Prometheus metrics: what relayers asked and how it
 * answered, whether its records reach them, and each GPU as nvidia-smi reads
 * it at scrape time (the readings its heartbeats carry).
 */
export function createAgentMetrics(o: {
  telemetry: () => Promise<Telemetry>
  recordGpus: () => readonly string[]
}) {
  const registry = new Registry()
  let reading: { at: number; gpus: Promise<GpuTelemetry[] | null> } | undefined
  const read = () => {
    if (!reading || Date.now() - reading.at > READING_MS)
      reading = {
        at: Date.now(),
        gpus: o.telemetry().then(
          (t) => t.gpus,
          () => null,
        ),
      }
    return reading.gpus
  }
  const gpuGauge = (name: string, help: string, value: (g: GpuTelemetry) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: ['uuid', 'name'],
      registers: [registry],
      async collect() {
        this.reset()
        for (const g of (await read()) ?? []) {
          const v = value(g)
          if (v !== null) this.set({ uuid: g.uuid, name: g.name }, v)
        }
      },
    })
  gpuGauge('qantara_agent_gpu_utilization_ratio', 'GPU utilisation, 0-1, as nvidia-smi reads it', (g) =>
    g.utilizationPct === null ? null : g.utilizationPct / 100,
  )
  gpuGauge('qantara_agent_gpu_memory_used_bytes', 'GPU memory in use, as nvidia-smi reads it', (g) =>
    g.memoryUsedMiB === null ? null : g.memoryUsedMiB * 1024 * 1024,
  )
  gpuGauge(
    'qantara_agent_gpu_temperature_celsius',
    'GPU temperature, as nvidia-smi reads it',
    (g) => g.temperatureC,
  )
  gpuGauge('qantara_agent_gpu_power_watts', 'GPU power draw, as nvidia-smi reads it', (g) =>
    g.powerDrawMilliwatts === null ? null : g.powerDrawMilliwatts / 1000,
  )
  new Gauge({
    name: 'qantara_agent_gpus_missing',
    help: 'GPUs the provider record offers that nvidia-smi does not read now (all of them when there is no telemetry): slots answered without them earn nothing',
    registers: [registry],
    async collect() {
      const seen = new Set(((await read()) ?? []).map((g) => g.uuid))
      this.set(o.recordGpus().filter((uuid) => !seen.has(uuid)).length)
    },
  })
  const m = {
    registry,
    requests: new Counter({
      name: 'qantara_agent_requests_total',
      help: 'requests the agent answered, by route and HTTP status (403: not a quorum key, 409: slot already answered, 429: rate limited)',
      labelNames: ['route', 'status'],
      registers: [registry],
    }),
    announcements: new Counter({
      name: 'qantara_agent_record_announcements_total',
      help: 'provider record announcements to each relayer, by outcome (accepted, refused, unreachable)',
      labelNames: ['relayer', 'outcome'],
      registers: [registry],
    }),
  }
  collectDefaultMetrics({ register: registry })
  return m
}

export type AgentMetrics = ReturnType<typeof createAgentMetrics>
