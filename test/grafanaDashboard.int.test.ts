import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { createMetrics } from '../src/metrics.js'

// The shipped Grafana dashboard queries only metrics a relayer exports (test/alertRules.int.test.ts holds the alert
// rules to the same): a renamed metric would leave a panel empty, and nothing else would say so.
interface Panel {
  title: string
  targets: { expr: string }[]
}

const METRIC = /\b((?:qantara|process|nodejs)_[a-z0-9_]+)\b/g
/** A histogram is queried by its series: name_bucket, name_sum, name_count. */
const family = (name: string) => name.replace(/_(bucket|sum|count)$/, '')

async function exported(): Promise<Set<string>> {
  const metrics = createMetrics()
  return new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name))
}

describe('shipped Grafana dashboard', () => {
  it('has a Grafana dashboard whose every panel queries metrics a relayer exports', async () => {
    const dashboard = JSON.parse(readFileSync('docker/grafana/qantara.json', 'utf8')) as {
      uid: string
      panels: Panel[]
    }
    const names = await exported()
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(10)
    for (const panel of dashboard.panels) {
      const queried = panel.targets.flatMap((t) => [...t.expr.matchAll(METRIC)].map((m) => family(m[1]!)))
      expect(queried.length, panel.title).toBeGreaterThan(0)
      for (const name of queried) expect(names, `${panel.title}: ${name}`).toContain(name)
    }
  })
})
