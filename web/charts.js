import uPlot from 'uplot'
import { useEffect, useRef } from 'preact/hooks'
import { html } from './api.js'

const COLOURS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4f46e5', '#be123c']

/**
 * A uPlot chart of one telemetry figure over the order's slots, a line per
 * GPU: `x` are the slots' start times, `series` an array per GPU (null where
 * no record of the slot holds the figure).
 */
export function TelemetryChart({ title, unit, x, series }) {
  const box = useRef(null)
  useEffect(() => {
    if (!box.current) return undefined
    const width = () => Math.max(260, box.current.clientWidth)
    const plot = new uPlot(
      {
        title,
        width: width(),
        height: 180,
        scales: { x: { time: true } },
        axes: [{}, { label: unit, size: 60 }],
        series: [
          {},
          ...series.map((s, i) => ({
            label: s.label,
            stroke: COLOURS[i % COLOURS.length],
            width: 2,
            spanGaps: false,
          })),
        ],
      },
      [x, ...series.map((s) => s.values)],
      box.current,
    )
    const resize = () => plot.setSize({ width: width(), height: 180 })
    addEventListener('resize', resize)
    return () => {
      removeEventListener('resize', resize)
      plot.destroy()
    }
  }, [title, unit, x, series])
  return html`<div class="chart" ref=${box} data-chart=${title}></div>`
}

/** The four figures a renter checks, from the slots' telemetry: utilisation, memory, temperature and power. */
export function telemetrySeries(order) {
  const items = order.slots?.items ?? []
  const start = Number(order.terms.start)
  const x = items.map((s) => start + s.slot * order.terms.slotLength)
  const gpuCount = Math.max(0, ...items.map((s) => s.gpus?.length ?? 0))
  const figure = (pick) =>
    Array.from({ length: gpuCount }, (_, g) => ({
      label: `GPU ${g}`,
      values: items.map((s) => {
        const v = s.gpus?.[g] ? pick(s.gpus[g]) : null
        return v === null || v === undefined ? null : v
      }),
    }))
  return {
    x,
    gpuCount,
    charts: [
      { title: 'Utilisation', unit: '%', series: figure((g) => g.utilizationPct) },
      { title: 'Memory used', unit: 'MiB', series: figure((g) => g.memoryUsedMiB) },
      { title: 'Temperature', unit: '°C', series: figure((g) => g.temperatureC) },
      {
        title: 'Power',
        unit: 'W',
        series: figure((g) => (g.powerDrawMilliwatts === null ? null : g.powerDrawMilliwatts / 1000)),
      },
    ],
  }
}
