import type { RelayerOrderAnswer } from './relayerOrder.js'

/** One GPU over a page of slots: what a renter checks first — was it busy, how hot, how much power. */
export interface GpuSummary {
  index: number
  name: string
  /** Slots of the page whose telemetry lists this GPU. */
  slots: number
  utilizationPctAvg: number | null
  memoryUsedMiBMax: number | null
  temperatureCMax: number | null
  powerWattsAvg: number | null
}

/** The page's telemetry, per GPU; undefined where the relayer sent no per-slot detail. */
export function telemetrySummary(
  o: RelayerOrderAnswer,
): { from: number; count: number; gpus: GpuSummary[] } | undefined {
  const page = o.slots
  if (!page) return undefined
  const byGpu = new Map<
    number,
    { name: string; slots: number; util: number[]; mem: number[]; temp: number[]; power: number[] }
  >()
  for (const item of page.items)
    for (const g of item.gpus ?? []) {
      const s = byGpu.get(g.index) ?? { name: g.name, slots: 0, util: [], mem: [], temp: [], power: [] }
      s.slots++
      if (g.utilizationPct !== null) s.util.push(g.utilizationPct)
      if (g.memoryUsedMiB !== null) s.mem.push(g.memoryUsedMiB)
      if (g.temperatureC !== null) s.temp.push(g.temperatureC)
      if (g.powerDrawMilliwatts !== null) s.power.push(g.powerDrawMilliwatts / 1000)
      byGpu.set(g.index, s)
    }
  const avg = (v: number[]) => (v.length ? Math.round(v.reduce((a, b) => a + b, 0) / v.length) : null)
  const max = (v: number[]) => (v.length ? Math.max(...v) : null)
  const gpus = [...byGpu.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, s]) => ({
      index,
      name: s.name,
      slots: s.slots,
      utilizationPctAvg: avg(s.util),
      memoryUsedMiBMax: max(s.mem),
      temperatureCMax: max(s.temp),
      powerWattsAvg: avg(s.power),
    }))
  return { from: page.from, count: page.count, gpus }
}

/** A GPU's line for people. */
export function gpuSummaryText(g: GpuSummary): string {
  const part = (label: string, v: number | null, unit: string) =>
    v === null ? undefined : `${label} ${v}${unit}`
  const figures = [
    part('utilisation avg', g.utilizationPctAvg, '%'),
    part('memory max', g.memoryUsedMiBMax, ' MiB'),
    part('temperature max', g.temperatureCMax, ' °C'),
    part('power avg', g.powerWattsAvg, ' W'),
  ].filter((p) => p !== undefined)
  return `GPU ${g.index} ${g.name}: ${figures.length ? figures.join(', ') : 'no figures reported'} (${g.slots} slots)`
}
