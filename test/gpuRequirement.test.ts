import { describe, expect, it } from 'vitest'
import { GPU_CLASSES } from '../src/gpu/classes.js'
import {
  decodeGpuRequirement,
  encodeGpuRequirement,
  formatGpuRequirement,
  parseGpuRequirement,
} from '../src/gpu/requirement.js'
import { matchTelemetry } from '../src/gpu/telemetryMatch.js'

describe('GPU requirement', () => {
  it('packs count, class code and memory into the word every chain carries', () => {
    const g = { class: 'hopper-h100', count: 8, minVramMiB: 81_000 }
    const word = encodeGpuRequirement(g)
    expect(word).toBe(0x08_0301_00013c68_00n)
    expect(decodeGpuRequirement(word)).toEqual(g)
  })

  it('reads an unknown class as one the relayer refuses, and reserved bits as no requirement', () => {
    expect(decodeGpuRequirement(0x01_7777_00000000_00n)).toEqual({
      class: 'unknown-7777',
      count: 1,
      minVramMiB: 0,
    })
    expect(decodeGpuRequirement(0x01_0301_00000000_01n)).toBeUndefined()
    expect(decodeGpuRequirement(1n << 64n)).toBeUndefined()
    expect(() => encodeGpuRequirement({ class: 'unknown-7777', count: 1, minVramMiB: 0 })).toThrow(
      'UNKNOWN_GPU_CLASS',
    )
    expect(() => encodeGpuRequirement({ class: 'hopper-h100', count: 17, minVramMiB: 0 })).toThrow(
      'GPU_COUNT_OUT_OF_BOUNDS',
    )
  })

  it('reads the CLI form in MiB or GiB and writes it back', () => {
    expect(parseGpuRequirement('2xada-rtx40:24000MiB')).toEqual({
      class: 'ada-rtx40',
      count: 2,
      minVramMiB: 24_000,
    })
    expect(parseGpuRequirement('8xhopper-h200:140GiB').minVramMiB).toBe(143_360)
    expect(formatGpuRequirement(parseGpuRequirement('1xhopper-h100'))).toBe('1xhopper-h100')
    for (const bad of ['h100', '0xhopper-h100', '1xh100', '1xhopper-h100:80GB', '100xhopper-h100'])
      expect(() => parseGpuRequirement(bad)).toThrow()
  })

  it('gives every class a distinct code and id, and its names match the products nvidia-smi reports', () => {
    expect(new Set(GPU_CLASSES.map((c) => c.code)).size).toBe(GPU_CLASSES.length)
    expect(new Set(GPU_CLASSES.map((c) => c.id)).size).toBe(GPU_CLASSES.length)
    const reported: [string, string][] = [
      ['NVIDIA H100 80GB HBM3', 'hopper-h100'],
      ['NVIDIA H100 PCIe', 'hopper-h100'],
      ['NVIDIA H200', 'hopper-h200'],
      ['NVIDIA A100-SXM4-80GB', 'ampere-a100'],
      ['NVIDIA GeForce RTX 4090', 'ada-rtx40'],
      ['NVIDIA GeForce RTX 3060 Ti', 'ampere-rtx30'],
      ['NVIDIA L40S', 'ada-l40'],
      ['NVIDIA B200', 'blackwell-b200'],
      ['NVIDIA GeForce RTX 5090', 'blackwell-rtx50'],
    ]
    for (const [name, id] of reported)
      expect(GPU_CLASSES.filter((c) => c.names.test(name)).map((c) => c.id)).toEqual([id])
  })
})

describe('matchTelemetry', () => {
  const req = { class: 'ada-rtx40', count: 2, minVramMiB: 24_000 }
  const rtx = (uuid: string, memoryTotalMiB: number | null = 24_564) => ({
    name: 'NVIDIA GeForce RTX 4090',
    uuid,
    memoryTotalMiB,
  })

  it('finds the ordered GPUs among others, sorted by UUID', () => {
    expect(
      matchTelemetry(req, [
        rtx('GPU-b'),
        { name: 'NVIDIA GeForce RTX 3060', uuid: 'GPU-c', memoryTotalMiB: 12_288 },
        rtx('GPU-a'),
      ]),
    ).toEqual({ kind: 'match', uuids: ['GPU-a', 'GPU-b'] })
  })

  it('calls no telemetry missing, and too few, too small or unnamed GPUs a mismatch', () => {
    expect(matchTelemetry(req, null)).toEqual({ kind: 'missing' })
    expect(matchTelemetry(req, [])).toEqual({ kind: 'missing' })
    expect(matchTelemetry(req, [rtx('GPU-a')])).toEqual({ kind: 'mismatch' })
    expect(matchTelemetry(req, [rtx('GPU-a'), rtx('GPU-a')])).toEqual({ kind: 'mismatch' })
    expect(matchTelemetry(req, [rtx('GPU-a'), rtx('GPU-b', 16_000)])).toEqual({ kind: 'mismatch' })
    expect(matchTelemetry(req, [rtx('GPU-a'), rtx('GPU-b', null)])).toEqual({ kind: 'mismatch' })
    expect(matchTelemetry(req, [rtx('GPU-a'), rtx('')])).toEqual({ kind: 'mismatch' })
  })
})
