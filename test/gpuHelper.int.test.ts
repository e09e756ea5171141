import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GPU_HELPER_SCRIPT, GpuHelper, type GpuHelperOptions } from '../src/agent/gpuHelper.js'
import { isQantaraError } from '../src/errors.js'
import { answerOnCpu, commitOnCpu } from '../src/gpu/cpuProver.js'
import { reveal, verifyAnswer } from '../src/gpu/freivalds.js'

// docs/PROTOCOL.md §9's test vectors: seed 0x00…1f at n = 5, and reveal seed 0x20…3f at n = 10.
const SEED = Uint8Array.from({ length: 32 }, (_, i) => i)
const C5_ROOT = '0xdc33aa3023400091af20fae9df81d55dde821d51474f09d6323e86b4b90d479f'
const REVEAL = Uint8Array.from({ length: 32 }, (_, i) => 32 + i)
const ROWS10 = [3, 0, 9, 2, 6, 5, 8, 1, 4, 7]

const seedFor = (n: number) => Uint8Array.from({ length: 32 }, (_, i) => (i * 13 + n) & 0xff)
const hex = (bytes: Uint8Array) => `0x${Buffer.from(bytes).toString('hex')}`
/** The relayers a helper keeps commitments for. */
const HOLDER = `0x${'a1'.repeat(32)}`
const OTHER = `0x${'b2'.repeat(32)}`

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (err: unknown) => err,
  )
}

async function expectRefused(promise: Promise<unknown>, error: string): Promise<void> {
  const err = await rejection(promise)
  expect(isQantaraError(err, 'GPU_HELPER_REFUSED') && err.context.error).toBe(error)
}

async function expectFailed(promise: Promise<unknown>, reason: string): Promise<void> {
  const err = await rejection(promise)
  expect(isQantaraError(err, 'GPU_HELPER_FAILED') && err.context.reason).toBe(reason)
}

describe('GPU helper, cpu-test backend: the same commitment and answers as the TypeScript reference', () => {
  let helper: GpuHelper

  beforeAll(async () => {
    const started = await GpuHelper.start({ backend: 'cpu-test', timeoutMs: 10_000 })
    helper = started.helper
    expect(started.info).toEqual({
      backend: 'cpu-test',
      device: 'cpu (pure Python, tests only)',
      kernel: 'python',
      maxN: 256,
      version: 1,
    })
  })
  afterAll(() => helper.close())

  it("commits to PROTOCOL.md's root and draws its rows", async () => {
    expect((await helper.commit(SEED, 5, HOLDER)).root).toBe(C5_ROOT)
    await helper.commit(SEED, 10, HOLDER)
    expect((await helper.answer(SEED, 10, REVEAL, HOLDER)).rows.map((row) => row.index)).toEqual(ROWS10)
  })

  it("commits to commitOnCpu's root and answers what verifyAnswer accepts, at sizes odd and even", async () => {
    for (const n of [1, 4, 5, 33, 64]) {
      const seed = seedFor(n)
      const revealSeed = seedFor(n + 100)
      const committed = await helper.commit(seed, n, HOLDER)
      const reference = commitOnCpu(seed, n)
      expect(committed.root).toBe(reference.root)
      expect(Object.values(committed.ms).every((ms) => ms >= 0)).toBe(true)
      const answer = await helper.answer(seed, n, revealSeed, HOLDER)
      expect(answer).toEqual(answerOnCpu(reference, revealSeed))
      expect(verifyAnswer(seed, n, committed.root, revealSeed, answer)).toEqual({ ok: true })
    }
  })

  it("keeps one commitment per holder: another holder's commit leaves it, its own replaces it, release drops it", async () => {
    const [first, second] = [seedFor(1), seedFor(2)]
    await helper.commit(first, 8, HOLDER)
    await expectRefused(helper.answer(second, 8, REVEAL, HOLDER), 'NOT_COMMITTED')
    await expectRefused(helper.answer(first, 9, REVEAL, HOLDER), 'NOT_COMMITTED')
    // A relayer committing to its own challenge, even many times, does not take another relayer's C away.
    for (let k = 0; k < 10; k++) await helper.commit(seedFor(10 + k), 8, OTHER)
    expect(reveal(REVEAL, 8).rows).toEqual(
      (await helper.answer(first, 8, REVEAL, HOLDER)).rows.map((r) => r.index),
    )
    await helper.commit(second, 8, HOLDER)
    await expectRefused(helper.answer(first, 8, REVEAL, HOLDER), 'NOT_COMMITTED')
    expect(reveal(REVEAL, 8).rows).toEqual(
      (await helper.answer(second, 8, REVEAL, HOLDER)).rows.map((r) => r.index),
    )
    await helper.release(HOLDER)
    await expectRefused(helper.answer(second, 8, REVEAL, HOLDER), 'NOT_COMMITTED')
  })

  it('refuses sizes past the cpu-test bound, and still serves after a refusal', async () => {
    await expectRefused(helper.commit(SEED, 257, HOLDER), 'N_UNSUPPORTED')
    expect((await helper.commit(SEED, 5, HOLDER)).root).toBe(C5_ROOT)
  })

  it('runs requests one at a time in the order they were made', async () => {
    const roots = await Promise.all([4, 5, 6].map((n) => helper.commit(seedFor(n), n, HOLDER)))
    expect(roots.map((r) => r.root)).toEqual([4, 5, 6].map((n) => commitOnCpu(seedFor(n), n).root))
  })
})

describe('GPU helper protocol: every request checked', () => {
  async function session(lines: string[]): Promise<Record<string, unknown>[]> {
    const child = spawn('python3', [GPU_HELPER_SCRIPT, '--backend', 'cpu-test'])
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text))
    child.stdin.end(lines.map((line) => `${line}\n`).join(''))
    await once(child, 'close')
    return out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
  }

  it('refuses unknown ops, bad fields, bad JSON and overlong lines with their codes, and goes on serving', async () => {
    const seed = hex(SEED)
    const requests: [unknown, string, unknown][] = [
      [{ id: 1, op: 'mine' }, 'UNKNOWN_OP', 1],
      [
        { id: 2, op: 'commit', seed: seed.toUpperCase().replace('0X', '0x'), n: 4, holder: HOLDER },
        'BAD_REQUEST',
        2,
      ],
      [{ id: 3, op: 'commit', seed: seed.slice(0, -2), n: 4, holder: HOLDER }, 'BAD_REQUEST', 3],
      [{ id: 4, op: 'commit', seed, n: 0, holder: HOLDER }, 'BAD_REQUEST', 4],
      [{ id: 5, op: 'commit', seed, n: 16_385, holder: HOLDER }, 'BAD_REQUEST', 5],
      [{ id: 6, op: 'commit', seed, n: 4.5, holder: HOLDER }, 'BAD_REQUEST', 6],
      [{ id: 7, op: 'commit', seed, n: '4', holder: HOLDER }, 'BAD_REQUEST', 7],
      [{ id: 8, op: 'commit', seed, n: 4, extra: true, holder: HOLDER }, 'BAD_REQUEST', 8],
      [{ id: 9, op: 'answer', seed, n: 4, holder: HOLDER }, 'BAD_REQUEST', 9],
      [{ id: 91, op: 'commit', seed, n: 4, holder: 'relayer-a' }, 'BAD_REQUEST', 91],
      [{ id: 10, op: 'answer', seed, n: 4, revealSeed: seed, holder: HOLDER }, 'NOT_COMMITTED', 10],
      [{ op: 'hello' }, 'BAD_REQUEST', null],
      [{ id: -1, op: 'hello' }, 'BAD_REQUEST', null],
      [{ id: true, op: 'hello' }, 'BAD_REQUEST', null],
      [[1, 2], 'BAD_REQUEST', null],
    ]
    const lines = [
      ...requests.map(([request]) => JSON.stringify(request)),
      '{"id": 11, "op": ',
      `{"id":12,"op":"hello","pad":"${'x'.repeat(5_000)}"}`,
      '{"id":13,"op":"hello"}',
    ]
    const replies = await session(lines)
    expect(replies).toHaveLength(lines.length)
    requests.forEach(([, error, id], k) => expect(replies[k]).toMatchObject({ id, ok: false, error }))
    expect(replies.slice(-3)).toMatchObject([
      { id: null, ok: false, error: 'BAD_JSON' },
      { id: null, ok: false, error: 'LINE_TOO_LONG' },
      { id: 13, ok: true, backend: 'cpu-test' },
    ])
  })

  it('says plainly when its GPU backend cannot run (torch without CUDA), and serves nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qantara-torch-'))
    mkdirSync(join(dir, 'torch'))
    writeFileSync(
      join(dir, 'torch', '__init__.py'),
      'class cuda:\n    is_available = staticmethod(lambda: False)\n',
    )
    const pythonPath = process.env.PYTHONPATH
    process.env.PYTHONPATH = dir
    try {
      await expectRefused(GpuHelper.start({ backend: 'torch' }), 'BACKEND_UNAVAILABLE')
    } finally {
      if (pythonPath === undefined) delete process.env.PYTHONPATH
      else process.env.PYTHONPATH = pythonPath
      rmSync(dir, { recursive: true })
    }
  })
})

describe('GPU helper client: a helper that fails is killed and reported, typed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qantara-gpu-helper-'))
  afterAll(() => rmSync(dir, { recursive: true }))

  /** A stand-in helper that says hello, then misbehaves on the next request as `then` says. */
  function fake(name: string, then: string): GpuHelperOptions {
    const script = join(dir, `${name}.py`)
    writeFileSync(
      script,
      [
        'import json, sys, time',
        'for line in sys.stdin:',
        '    req = json.loads(line)',
        "    if req['op'] == 'hello':",
        "        hello = {'backend': 'cpu-test', 'device': 'fake', 'kernel': 'python', 'maxN': 256, 'version': 1}",
        "        print(json.dumps({'id': req['id'], 'ok': True, **hello}), flush=True)",
        '        continue',
        ...then.split('\n').map((line) => `    ${line}`),
      ].join('\n'),
    )
    return { backend: 'cpu-test', script, timeoutMs: 5_000 }
  }

  it('reports a helper that dies mid-request, with its stderr, and fails every later request the same way', async () => {
    const { helper } = await GpuHelper.start(
      fake('dies', "print('boom: out of memory', file=sys.stderr)\nsys.exit(3)"),
    )
    const err = await rejection(helper.commit(SEED, 5, HOLDER))
    expect(isQantaraError(err, 'GPU_HELPER_FAILED') && err.context.reason).toBe('EXITED')
    expect(isQantaraError(err) && err.shortMessage).toBe('the GPU helper exited (code 3)')
    expect(isQantaraError(err) && err.details).toContain('boom: out of memory')
    await expectFailed(helper.answer(SEED, 5, REVEAL, HOLDER), 'EXITED')
    await helper.close()
  })

  it('kills a helper that overruns the timeout', async () => {
    const { helper } = await GpuHelper.start(fake('silent', 'time.sleep(60)'))
    await expectFailed(helper.commit(SEED, 5, HOLDER, 300), 'TIMEOUT')
    await helper.close()
    await expectFailed(helper.hello(), 'TIMEOUT')
  })

  it('kills a helper that answers another request, or writes a line past the bound', async () => {
    const stray = await GpuHelper.start(
      fake('stray', "print(json.dumps({'id': req['id'] + 1, 'ok': True}), flush=True)"),
    )
    await expectFailed(stray.helper.release(HOLDER), 'BAD_REPLY')
    await stray.helper.close()
    const flood = await GpuHelper.start({
      ...fake('flood', "sys.stdout.write('x' * 3_000_000)\nsys.stdout.flush()\ntime.sleep(60)"),
      maxReplyBytes: 1_000_000,
    })
    await expectFailed(flood.helper.commit(SEED, 5, HOLDER), 'REPLY_TOO_LARGE')
    await flood.helper.close()
  })

  it('kills a helper whose answer is not n int32 values per row', async () => {
    const short =
      "row = {'index': 0, 'values': 'AAAA', 'path': []}\nprint(json.dumps({'id': req['id'], 'ok': True, 'rows': [row]}), flush=True)"
    const { helper } = await GpuHelper.start(fake('short', short))
    await expectFailed(helper.answer(SEED, 5, REVEAL, HOLDER), 'BAD_REPLY')
    await helper.close()
  })

  it('reports a Python that cannot be run', async () => {
    await expectFailed(GpuHelper.start({ backend: 'cpu-test', python: join(dir, 'no-python') }), 'EXITED')
  })
})
