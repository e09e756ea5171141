// The provider's side of the compute challenge (docs/PROTOCOL.md §9) on this host's NVIDIA GPU, through the helper the
// agent runs: each commit and answer timed, each answer checked with the relayer's verifyAnswer, beside a bare library
// matmul of the same size and kernel measured in the same run. It exits non-zero unless a GPU ran every check and
// passed it. Run: npm run gpu:check   (options: -- --sizes 4096,8192 --backend cpu-test, the latter only to try the
// plumbing: it is pure Python, never a GPU figure)
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { GpuHelper, type GpuHelperInfo } from '../src/agent/gpuHelper.js'
import { errorMessage, isQantaraError } from '../src/errors.js'
import { checkSize } from '../src/gpu/challengeMatrices.js'
import { verifyAnswer } from '../src/gpu/freivalds.js'

/** Per size: the first run pays for cuBLAS's kernel choice and pinned host memory; the last is a warm helper's. */
const RUNS = 2

interface Run {
  n: number
  generateMs: number
  matmulMs: number
  commitMs: number
  seedToRootMs: number
  answerMs: number
  verifyMs: number
  verdict: string
}

const fixed = (ms: number) => ms.toFixed(1)
/** The one relayer this check plays. */
const HOLDER = `0x${'00'.repeat(32)}`

async function challenge(helper: GpuHelper, n: number): Promise<Run> {
  const seed = randomBytes(32)
  const t0 = performance.now()
  const { root, ms } = await helper.commit(seed, n, HOLDER)
  const seedToRootMs = performance.now() - t0
  const revealSeed = randomBytes(32)
  const t1 = performance.now()
  const answer = await helper.answer(seed, n, revealSeed, HOLDER)
  const answerMs = performance.now() - t1
  const t2 = performance.now()
  const verdict = verifyAnswer(seed, n, root, revealSeed, answer)
  const verifyMs = performance.now() - t2
  return {
    n,
    generateMs: ms.generate,
    matmulMs: ms.matmul,
    commitMs: ms.commit,
    seedToRootMs,
    answerMs,
    verifyMs,
    verdict: verdict.ok ? 'ok' : verdict.code,
  }
}

async function measure(helper: GpuHelper, info: GpuHelperInfo, sizes: number[]): Promise<boolean> {
  console.log(`device: ${info.device} (backend ${info.backend}, kernel ${info.kernel})`)
  console.log(
    'n       run  generate  matmul  commit (hash)  seed→root  answer  verify (relayer)  bare matmul  seed→root / bare',
  )
  const results: (Run & { bareMatmulMs: number })[] = []
  for (const n of sizes) {
    const runs: Run[] = []
    for (let k = 0; k < RUNS; k++) runs.push(await challenge(helper, n))
    const bare = (await helper.baseline(n)).ms.matmul
    await helper.release(HOLDER)
    for (const [k, r] of runs.entries())
      console.log(
        [
          String(n).padEnd(8),
          (k === 0 ? 'cold' : 'warm').padEnd(5),
          fixed(r.generateMs).padStart(8),
          fixed(r.matmulMs).padStart(8),
          fixed(r.commitMs).padStart(15),
          fixed(r.seedToRootMs).padStart(11),
          fixed(r.answerMs).padStart(8),
          `${fixed(r.verifyMs)} ${r.verdict}`.padStart(18),
          fixed(bare).padStart(13),
          (r.seedToRootMs / bare).toFixed(1).padStart(18),
        ].join(''),
      )
    results.push({ ...runs.at(-1)!, bareMatmulMs: bare })
  }
  console.log('times in ms; generate, matmul and commit as the helper timed them, the rest from this process')
  const rows = results.map(({ verdict, ...r }) => ({
    ...Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Math.round(v * 10) / 10])),
    verdict,
  }))
  console.log(
    JSON.stringify({ gpuCheck: 1, device: info.device, backend: info.backend, kernel: info.kernel, rows }),
  )
  return results.every((r) => r.verdict === 'ok')
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'torch' },
      sizes: { type: 'string', default: '8192,16384' },
    },
  })
  const backend = values.backend
  if (backend !== 'torch' && backend !== 'cpu-test') throw new RangeError(`unknown backend ${backend}`)
  const sizes = values.sizes.split(',').map(Number)
  sizes.forEach(checkSize)
  let started: Awaited<ReturnType<typeof GpuHelper.start>>
  try {
    started = await GpuHelper.start({ backend, timeoutMs: 600_000 })
  } catch (err) {
    const why = `${errorMessage(err)}${isQantaraError(err) && err.details ? `: ${err.details}` : ''}`
    if (isQantaraError(err, 'GPU_HELPER_REFUSED') && err.context.error === 'BACKEND_UNAVAILABLE')
      console.error(`no NVIDIA GPU here: the GPU path was NOT run (${why})`)
    else console.error(`the GPU helper did not start: the GPU path was NOT run (${why})`)
    return 1
  }
  const { helper, info } = started
  try {
    const passed = await measure(helper, info, sizes)
    if (!passed) console.error('an answer FAILED the relayer check: this GPU path is not exact')
    if (info.backend !== 'torch') {
      console.error(`backend ${info.backend} is not a GPU: the GPU path was NOT run`)
      return 1
    }
    return passed ? 0 : 1
  } finally {
    await helper.close()
  }
}

process.exitCode = await main()
