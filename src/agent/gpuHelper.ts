import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { QantaraError, type ErrorContexts } from '../errors.js'
import { MAX_CHALLENGE_N, checkSize } from '../gpu/challengeMatrices.js'
import { CHALLENGE_ROWS, type ChallengeAnswer } from '../gpu/freivalds.js'

export type GpuHelperBackend = 'torch' | 'cpu-test'

/** The helper of this checkout, from src/agent (tests) or dist/src/agent (built). */
export const GPU_HELPER_SCRIPT = fileURLToPath(
  new URL(
    `${import.meta.url.endsWith('.ts') ? '../..' : '../../..'}/gpu/helper/qantara_gpu_helper.py`,
    import.meta.url,
  ),
)

/** An answer at n = 16,384 is about 5.7 MB: 64 rows of 64 KiB in base64, and their paths. */
export const MAX_REPLY_BYTES = 8 * 1024 * 1024
const STDERR_TAIL_CHARS = 4_096

export interface GpuHelperOptions {
  backend: GpuHelperBackend
  python?: string
  script?: string
  /** For the hello that start() sends: importing torch, starting CUDA and the helper's self-test take seconds. */
  startTimeoutMs?: number
  /** For every other request unless the call gives its own. */
  timeoutMs?: number
  maxReplyBytes?: number
  /** The one GPU this helper sees (CUDA_VISIBLE_DEVICES); all of the host's when absent. */
  device?: number
}

type FailureReason = ErrorContexts['GPU_HELPER_FAILED']['reason']

const hex32 = z.string().regex(/^0x[0-9a-f]{64}$/)
const millis = z.number().nonnegative()
const helloReply = z.object({
  backend: z.string().max(64),
  device: z.string().max(256),
  kernel: z.string().max(64),
  maxN: z.number().int().min(1).max(MAX_CHALLENGE_N),
  version: z.literal(1),
})
const commitReply = z.object({
  root: hex32,
  ms: z.strictObject({ generate: millis, matmul: millis, commit: millis }),
})
const answerReply = z.object({
  rows: z
    .array(
      z.strictObject({
        index: z.number().int().nonnegative(),
        values: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/),
        path: z.array(hex32).max(32),
      }),
    )
    .max(CHALLENGE_ROWS),
})
const baselineReply = z.object({ kernel: z.string().max(64), ms: z.strictObject({ matmul: millis }) })

export type GpuHelperInfo = z.infer<typeof helloReply>
/** The root the provider commits to, and the helper's own timings of each step. */
export type GpuCommitment = z.infer<typeof commitReply>
export type GpuBaseline = z.infer<typeof baselineReply>

interface Pending {
  id: number
  op: string
  resolve: (reply: object) => void
  reject: (err: QantaraError) => void
  timer: NodeJS.Timeout
}

const hex = (bytes: Uint8Array) => `0x${Buffer.from(bytes).toString('hex')}`

function checkSeed(seed: Uint8Array, what: string): void {
  if (seed.length !== 32) throw new RangeError(`a ${what} is 32 bytes, not ${seed.length}`)
}

function checkHolder(holder: string): string {
  if (!/^0x[0-9a-f]{64}$/.test(holder)) throw new RangeError('a holder is 32 bytes of lower-case 0x hex')
  return holder
}

/**
 * The agent's side of the GPU helper (gpu/helper/qantara_gpu_helper.py): one
 * resident Python process per GPU host, JSON lines over its stdin and stdout,
 * one request at a time. A helper that exits, overruns a request's timeout or
 * writes what is not the reply awaited is killed, and that request and every
 * later one fail with GPU_HELPER_FAILED: its state (the committed C) is gone,
 * so the caller starts a new one. A request the helper refuses fails with
 * GPU_HELPER_REFUSED and leaves it running.
 */
export class GpuHelper {
  private readonly child: ChildProcessWithoutNullStreams
  private readonly timeoutMs: number
  private readonly maxReplyBytes: number
  private readonly closed: Promise<void>
  private nextId = 1
  private pending: Pending | undefined
  private queue: Promise<unknown> = Promise.resolve()
  private failure: QantaraError<'GPU_HELPER_FAILED'> | undefined
  private partial: Buffer[] = []
  private partialBytes = 0
  private stderrTail = ''

  private constructor(o: GpuHelperOptions) {
    this.timeoutMs = o.timeoutMs ?? 60_000
    this.maxReplyBytes = o.maxReplyBytes ?? MAX_REPLY_BYTES
    const python = o.python ?? 'python3'
    this.child = spawn(python, [o.script ?? GPU_HELPER_SCRIPT, '--backend', o.backend], {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(o.device === undefined ? {} : { env: { ...process.env, CUDA_VISIBLE_DEVICES: String(o.device) } }),
    })
    this.child.stdout.on('data', (chunk: Buffer) => this.onStdout(chunk))
    this.child.stderr.setEncoding('utf8')
    this.child.stderr.on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL_CHARS)
    })
    // A write to a helper that just died fails with EPIPE; 'close' below reports the death itself.
    this.child.stdin.on('error', () => undefined)
    this.child.on('error', (err) => this.fail('EXITED', `could not run ${python}: ${err.message}`, err))
    // 'close', not 'exit': a reply written just before exiting is still in the pipe at 'exit'.
    this.closed = new Promise((resolve) =>
      this.child.on('close', (code, signal) => {
        this.fail('EXITED', `the GPU helper exited (${signal ?? `code ${code}`})`)
        resolve()
      }),
    )
  }

  /** Starts a helper and waits for its hello; a helper that cannot serve (no GPU, a failed self-test) is closed and refused. */
  static async start(o: GpuHelperOptions): Promise<{ helper: GpuHelper; info: GpuHelperInfo }> {
    const helper = new GpuHelper(o)
    try {
      return { helper, info: await helper.hello(o.startTimeoutMs ?? 300_000) }
    } catch (err) {
      await helper.close()
      throw err
    }
  }

  async hello(timeoutMs = this.timeoutMs): Promise<GpuHelperInfo> {
    return this.parse(helloReply, await this.request('hello', {}, timeoutMs))
  }

  /**
   * Derives A and B from the seed, computes C = A·B and commits to its rows,
   * kept for `holder` (the asking relayer's key, 0x hex): replaces that
   * holder's earlier commitment, never another's.
   */
  async commit(
    seed: Uint8Array,
    n: number,
    holder: string,
    timeoutMs = this.timeoutMs,
  ): Promise<GpuCommitment> {
    checkSeed(seed, 'challenge seed')
    checkSize(n)
    const fields = { seed: hex(seed), n, holder: checkHolder(holder) }
    return this.parse(commitReply, await this.request('commit', fields, timeoutMs))
  }

  /** The rows the reveal seed draws from the committed C, with their paths, as verifyAnswer takes them. */
  async answer(
    seed: Uint8Array,
    n: number,
    revealSeed: Uint8Array,
    holder: string,
    timeoutMs = this.timeoutMs,
  ): Promise<ChallengeAnswer> {
    checkSeed(seed, 'challenge seed')
    checkSeed(revealSeed, 'reveal seed')
    checkSize(n)
    const fields = { seed: hex(seed), n, revealSeed: hex(revealSeed), holder: checkHolder(holder) }
    const { rows } = this.parse(answerReply, await this.request('answer', fields, timeoutMs))
    const answer = rows.map(({ index, values, path }) => {
      const bytes = Buffer.from(values, 'base64')
      if (bytes.length !== 4 * n) throw this.fail('BAD_REPLY', `row ${index} is not ${n} int32 values`)
      // A plain loop: about three times faster than Array.from on the million values of an answer at n = 16,384.
      const decoded: number[] = new Array<number>(n)
      for (let j = 0; j < n; j++) decoded[j] = bytes.readInt32LE(4 * j)
      return { index, values: decoded, path }
    })
    return { rows: answer }
  }

  /** Frees `holder`'s committed C (held in host memory; the GPU's went back to the renter at the commit). */
  async release(holder: string, timeoutMs = this.timeoutMs): Promise<void> {
    await this.request('release', { holder: checkHolder(holder) }, timeoutMs)
  }

  /** The bare library matmul of the helper's kernel at size n, timed by the helper: the floor under a commit. */
  async baseline(n: number, timeoutMs = this.timeoutMs): Promise<GpuBaseline> {
    checkSize(n)
    return this.parse(baselineReply, await this.request('baseline', { n }, timeoutMs))
  }

  async close(): Promise<void> {
    this.fail('CLOSED', 'the GPU helper was closed')
    await this.closed
  }

  private request(op: string, fields: object, timeoutMs: number): Promise<object> {
    const send = () =>
      new Promise<object>((resolve, reject) => {
        if (this.failure) return reject(this.failure)
        const id = this.nextId++
        const timer = setTimeout(
          () => this.fail('TIMEOUT', `no reply to ${op} within ${timeoutMs} ms`),
          timeoutMs,
        )
        this.pending = { id, op, resolve, reject, timer }
        this.child.stdin.write(`${JSON.stringify({ id, op, ...fields })}\n`)
      })
    const reply = this.queue.then(send, send)
    this.queue = reply.catch(() => undefined)
    return reply
  }

  private onStdout(chunk: Buffer): void {
    let start = 0
    for (let end = chunk.indexOf(10); end !== -1 && !this.failure; end = chunk.indexOf(10, start)) {
      if (this.partialBytes + end - start > this.maxReplyBytes) return this.tooLarge()
      const line = Buffer.concat([...this.partial, chunk.subarray(start, end)]).toString('utf8')
      this.partial = []
      this.partialBytes = 0
      start = end + 1
      this.onLine(line)
    }
    if (this.failure || start === chunk.length) return
    this.partial.push(chunk.subarray(start))
    this.partialBytes += chunk.length - start
    if (this.partialBytes > this.maxReplyBytes) this.tooLarge()
  }

  private tooLarge(): void {
    this.fail('REPLY_TOO_LARGE', `the GPU helper wrote a line over ${this.maxReplyBytes} bytes`)
  }

  private onLine(line: string): void {
    const pending = this.pending
    let reply: unknown
    try {
      reply = JSON.parse(line)
    } catch {
      return void this.fail('BAD_REPLY', 'the GPU helper wrote a line that is not JSON')
    }
    const { id, ok, error, detail } = (reply ?? {}) as Record<string, unknown>
    if (!pending || id !== pending.id)
      return void this.fail(
        'BAD_REPLY',
        `the GPU helper wrote a reply to no request awaited (id ${String(id)})`,
      )
    if (ok !== true && (ok !== false || typeof error !== 'string'))
      return void this.fail('BAD_REPLY', `the GPU helper's reply to ${pending.op} is neither ok nor an error`)
    this.pending = undefined
    clearTimeout(pending.timer)
    if (ok === true) return pending.resolve(reply as object)
    pending.reject(
      new QantaraError('GPU_HELPER_REFUSED', `the GPU helper refused ${pending.op}: ${String(error)}`, {
        context: { error: String(error) },
        details: typeof detail === 'string' ? detail.slice(0, 1_000) : undefined,
      }),
    )
  }

  private parse<T>(schema: z.ZodType<T>, reply: object): T {
    const parsed = schema.safeParse(reply)
    if (!parsed.success)
      throw this.fail(
        'BAD_REPLY',
        `the GPU helper's reply is malformed: ${parsed.error.message.slice(0, 500)}`,
      )
    return parsed.data
  }

  /** Kills the helper once, and fails the request awaited and every later one with the first reason. */
  private fail(reason: FailureReason, message: string, cause?: unknown): QantaraError<'GPU_HELPER_FAILED'> {
    if (this.failure) return this.failure
    this.failure = new QantaraError('GPU_HELPER_FAILED', message, {
      context: { reason },
      details: this.stderrTail.trim() ? `helper stderr: ${this.stderrTail.trim()}` : undefined,
      cause,
    })
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
    const pending = this.pending
    this.pending = undefined
    if (pending) {
      clearTimeout(pending.timer)
      pending.reject(this.failure)
    }
    return this.failure
  }
}
