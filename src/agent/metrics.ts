import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import type { Telemetry } from './telemetry.js'

/** The routes the agent serves, as metrics name them; anything else is `other`. */
const ROUTES: Record<string, string> = {
  '/v1/heartbeat': 'heartbeat',
  '/v1/reveal': 'reveal',
  '/v1/provider': 'provider',
  '/healthz': 'healthz',
}

export const agentRoute = (path: string): string => ROUTES[path] ?? 'other'

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
  const gpuLabels = ['uuid', 'name'] as const
  const gauge = (name: string, help: string, labelNames: readonly string[] = gpuLabels) =>
    new Gauge({ name, help, labelNames, registers: [registry] })
  const missing = new Gauge({
    name: 'qantara_agent_gpus_missing',
    help: 'GPUs the provider record offers that nvidia-smi does not read now (all of them when there is no telemetry): slots answered without them earn nothing',
    registers: [registry],
    // One nvidia-smi reading per scrape (the agent's telemetry cache may serve it), for every GPU gauge.
    async collect() {
      const t = await o.telemetry().catch(() => ({ gpus: null }) as const)
      for (const g of [utilization, memory, temperature, power]) g.reset()
      const seen = new Set((t.gpus ?? []).map((g) => g.uuid))
      for (const g of t.gpus ?? []) {
        const labels = { uuid: g.uuid, name: g.name }
        if (g.utilizationPct !== null) utilization.set(labels, g.utilizationPct / 100)
        if (g.memoryUsedMiB !== null) memory.set(labels, g.memoryUsedMiB * 1024 * 1024)
        if (g.temperatureC !== null) temperature.set(labels, g.temperatureC)
        if (g.powerDrawMilliwatts !== null) power.set(labels, g.powerDrawMilliwatts / 1000)
      }
      this.set(o.recordGpus().filter((uuid) => !seen.has(uuid)).length)
    },
  })
  // Registered after `missing`, whose collect sets them: a scrape reads `missing` first, then these, as just read.
  const utilization = gauge(
    'qantara_agent_gpu_utilization_ratio',
    'GPU utilisation, 0-1, as nvidia-smi reads it',
  )
  const memory = gauge('qantara_agent_gpu_memory_used_bytes', 'GPU memory in use, as nvidia-smi reads it')
  const temperature = gauge(
    'qantara_agent_gpu_temperature_celsius',
    'GPU temperature, as nvidia-smi reads it',
  )
  const power = gauge('qantara_agent_gpu_power_watts', 'GPU power draw, as nvidia-smi reads it')
  const m = {
    registry,
    missing,
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
