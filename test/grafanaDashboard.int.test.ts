import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { createMetrics } from '../src/metrics.js'

// The shipped Grafana dashboard and alert rules query only metrics a relayer exports: a renamed metric would leave a
// panel empty or an alert that can never fire, and nothing else would say so.
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

describe('shipped monitoring', () => {
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

  it('has alert rules that query only metrics a relayer exports', async () => {
    const rules = parse(readFileSync('docker/prometheus/alerts.yml', 'utf8')) as {
      groups: { rules: { alert: string; expr: string }[] }[]
    }
    const names = await exported()
    for (const rule of rules.groups.flatMap((g) => g.rules))
      for (const [, name] of rule.expr.matchAll(METRIC)) expect(names, rule.alert).toContain(family(name!))
  })
})
