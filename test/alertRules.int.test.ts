import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createMetrics } from '../src/metrics.js'

// The shipped Prometheus config and alert rules, checked by the real promtool (Debian's `prometheus` package, which
// .ci/run installs), and held to the metrics the relayer exports, so a renamed metric cannot silence an alert.
const DIR = fileURLToPath(new URL('../docker/prometheus/', import.meta.url))
const promtool = (...args: string[]) => execFileSync('promtool', args, { cwd: DIR, encoding: 'utf8' })

describe('docker/prometheus', () => {
  it('is a valid Prometheus config whose alert rules pass their unit tests (alerts.test.yml)', () => {
    expect(promtool('check', 'config', 'prometheus.yml')).toContain('SUCCESS')
    expect(promtool('check', 'rules', 'alerts.yml')).toContain('SUCCESS: 9 rules found')
    expect(promtool('test', 'rules', 'alerts.test.yml')).toContain('SUCCESS')
  })

  it('alerts only on metrics the relayer exports', () => {
    const rules = readFileSync(`${DIR}alerts.yml`, 'utf8')
    const used = [...new Set([...rules.matchAll(/\b(qantara_[a-z_]+)\b/g)].map((m) => m[1]!))]
    expect(used.length).toBeGreaterThanOrEqual(6)
    const { registry } = createMetrics()
    expect(used.filter((name) => !registry.getSingleMetric(name))).toEqual([])
  })
})
