import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseNvidiaSmiCsv, readGpuTelemetry, GPU_QUERY } from '../src/agent/telemetry.js'
import { tempDir } from './support/tmp.js'

const fixture = (name: string) =>
  readFileSync(new URL(`./fixtures/nvidia-smi/${name}`, import.meta.url), 'utf8')
const tmp = tempDir()
afterAll(tmp.cleanup)

describe('nvidia-smi telemetry', () => {
  it('parses a real 19-field line, with N/A fields and a trailing blank line', () => {
    const fields =
      'power.limit,power.min_limit,power.max_limit,memory.total,vbios_version,driver_version,name,gpu_uuid,power.draw,temperature.gpu,temperature.memory,clocks.current.graphics,clocks.sm,clocks.mem,utilization.gpu,utilization.memory,fan.speed,pcie.link.width.current,pstate'.split(
        ',',
      )
    expect(parseNvidiaSmiCsv(fixture('rtx2080-19-fields.csv'), fields)).toEqual([
      {
        index: 0,
        name: 'GeForce RTX 2080',
        uuid: 'GPU-22b2c6ac-2d49-4863-197c-9c469071178a',
        memoryTotalMiB: 7979,
        memoryUsedMiB: null,
        utilizationPct: 86,
        temperatureC: 45,
        powerDrawMilliwatts: 176_980,
      },
    ])
  })

  it('parses several GPUs, one per line', () => {
    const gpus = parseNvidiaSmiCsv(fixture('a100x2-7-fields.csv'), [
      'index',
      'name',
      'temperature.gpu',
      'power.draw',
      'memory.used',
      'memory.total',
      'utilization.gpu',
    ])
    expect(gpus.map((g) => [g.index, g.temperatureC, g.powerDrawMilliwatts, g.memoryTotalMiB])).toEqual([
      [0, 28, 52_000, 40960],
      [1, 26, 49_000, 40960],
    ])
  })

  it('refuses a line with the wrong number of fields rather than misreading it', () => {
    expect(() => parseNvidiaSmiCsv('0, NVIDIA H100, 81559\n', GPU_QUERY)).toThrow(/has 3 fields, expected 8/)
  })

  it('reports no GPU, with the reason, when nvidia-smi is absent', async () => {
    expect(await readGpuTelemetry(join(tmp.dir, 'no-such-nvidia-smi'))).toEqual({
      gpus: null,
      unavailable: `${join(tmp.dir, 'no-such-nvidia-smi')} not found`,
    })
  })

  it('runs nvidia-smi (a stand-in script here: no GPU on this machine) with the agent query and parses its output', async () => {
    const fake = join(tmp.dir, 'nvidia-smi')
    writeFileSync(
      fake,
      `#!/bin/sh\n[ "$1" = "--query-gpu=${GPU_QUERY.join(',')}" ] || exit 9\nprintf '0, NVIDIA H100 80GB HBM3, GPU-1, 81559, 1024, 97, 61, 612.45\\n'\n`,
    )
    chmodSync(fake, 0o755)
    const t = await readGpuTelemetry(fake)
    expect(t.gpus?.[0]).toMatchObject({
      name: 'NVIDIA H100 80GB HBM3',
      memoryUsedMiB: 1024,
      utilizationPct: 97,
      powerDrawMilliwatts: 612_450,
    })
  })
})
