import { createHash } from 'node:crypto'
import { z } from 'zod'
import { ed25519Verify } from '../ed25519.js'
import { MAX_CHALLENGE_N } from './challengeMatrices.js'
import { CHALLENGE_ROWS, verifyAnswerSteps, yielding, type ChallengeAnswer } from './freivalds.js'
import { combinedRoot, productRevealSeed, productSeed } from './products.js'
import { MAX_GPUS_PER_ORDER } from './requirement.js'

const hex32 = z.string().regex(/^0x[0-9a-f]{64}$/)
const hex64 = z.string().regex(/^0x[0-9a-f]{128}$/)

/** One answered row: its index, its n entries as base64 of little-endian int32, and its Merkle path. */
export const answerRowSchema = z.strictObject({
  index: z.number().int().nonnegative().max(MAX_CHALLENGE_N),
  values: z
    .string()
    .max(base64Length(4 * MAX_CHALLENGE_N))
    .regex(/^[A-Za-z0-9+/]*={0,2}$/),
  path: z.array(hex32).max(32),
})

/**
 * What a relayer keeps of a compute challenge beyond the heartbeat that
 * carries it (the heartbeat holds the signed challenge, with its seed and
 * size, and the provider-signed root of C): the relayer's reveal and the
 * provider's signed answer. With the heartbeat it is transferable: any
 * relayer re-derives the reveal seed and re-checks the rows.
 */
export const transcriptSchema = z.strictObject({
  /** ed25519 by the challenging relayer over `revealBytes`: deterministic, so it cannot be ground, and unknown to the provider before it committed. */
  reveal: hex64,
  /** For an order of several GPUs, each product's row root in order (the commitment is `combinedRoot` of them); absent for one. */
  roots: z.array(hex32).min(2).max(MAX_GPUS_PER_ORDER).optional(),
  /** Each product's drawn rows, product after product. */
  rows: z.array(answerRowSchema).max(CHALLENGE_ROWS * MAX_GPUS_PER_ORDER),
  /** ed25519 by the provider over `answerBytes`. */
  signature: hex64,
})
export type Transcript = z.infer<typeof transcriptSchema>

/**
 * The bytes of an answer of `count` products at size n, with room for JSON:
 * per row its n int32 in base64, a path of up to 32 quoted hashes and its
 * index; per product a root; what a reveal's response or a peer's transcript
 * may be (about 5.9 MB for one product at n = 16,384).
 */
export function maxAnswerBytes(n: number, count: number): number {
  return count * (CHALLENGE_ROWS * (base64Length(4 * n) + 32 * 70 + 64) + 70) + 4_096
}

function base64Length(bytes: number): number {
  return 4 * Math.ceil(bytes / 3)
}

/** What the relayer signs to reveal: it binds the reveal to this challenge and this commitment. */
export function revealBytes(challengeSignature: string, root: string): Buffer {
  return Buffer.from(`qantara/gpu-reveal/v1\n${challengeSignature}\n${root}`, 'utf8')
}

/** The 32-byte seed the reveal signature stands for (docs/PROTOCOL.md §9). */
export function revealSeedOf(reveal: string): Buffer {
  return createHash('sha256')
    .update('qantara/gpu-reveal-seed/v1\n')
    .update(Buffer.from(reveal.slice(2), 'hex'))
    .digest()
}

/** What the provider signs over its answer: the challenge, its root, and a digest of the products' roots (several only) and the rows in order. */
export function answerBytes(
  challengeSignature: string,
  root: string,
  rows: Transcript['rows'],
  roots?: readonly string[],
): Buffer {
  const digest = createHash('sha256')
  if (roots) digest.update(`roots:${roots.join(',')}\n`)
  for (const r of rows) digest.update(`${r.index}:${r.values}:${r.path.join(',')}\n`)
  return Buffer.from(`qantara/gpu-answer/v1\n${challengeSignature}\n${root}\n${digest.digest('hex')}`, 'utf8')
}

/** Rows as the wire carries them: little-endian int32, base64. */
export function encodeRows(answer: ChallengeAnswer): Transcript['rows'] {
  return answer.rows.map((r) => {
    const b = Buffer.alloc(4 * r.values.length)
    r.values.forEach((v, j) => b.writeInt32LE(v, 4 * j))
    return { index: r.index, values: b.toString('base64'), path: [...r.path] }
  })
}

export function decodeRows(rows: Transcript['rows']): ChallengeAnswer | undefined {
  const out: ChallengeAnswer['rows'][number][] = []
  for (const r of rows) {
    const b = Buffer.from(r.values, 'base64')
    if (b.length % 4 !== 0 || b.toString('base64') !== r.values) return undefined
    const values = new Array<number>(b.length / 4)
    for (let j = 0; j < values.length; j++) values[j] = b.readInt32LE(4 * j)
    out.push({ index: r.index, values, path: r.path })
  }
  return { rows: out }
}

/**
 * What a challenged slot's record shows: passed; failed on a provider-signed
 * answer (proof of cheating); declined, a provider-signed heartbeat answering
 * the challenge with no commitment (proof it did not compute); or no valid
 * answer yet.
 */
export type ComputeVerdict = 'passed' | 'failed' | 'declined' | 'unanswered'

/** How far a record's compute verdict has come: it only moves up, so every relayer ends at the same one. */
export const VERDICT_RANK: Record<ComputeVerdict, number> = {
  unanswered: 0,
  passed: 1,
  failed: 2,
  declined: 3,
}

export interface ChallengeContext {
  seed: string
  n: number
  /** Products in the challenge: the order's GPU count. */
  count: number
  root: string
  challengeSignature: string
  relayerKey: string
  providerKey: string
}

/**
 * The verdict any relayer reaches on a transcript, from the transcript and
 * the heartbeat that carries the challenge: a reveal the challenging relayer
 * did not sign, or an answer the provider did not sign, is no answer (a
 * stranger cannot make a provider fail); rows the provider signed that do
 * not check are its own proof of cheating, as are roots that do not make
 * its commitment or a product left out. The O(n²) check, once per product,
 * runs only after both signatures verify.
 */
export async function transcriptVerdict(
  ctx: ChallengeContext,
  t: Transcript | undefined,
): Promise<'passed' | 'failed' | 'unanswered'> {
  if (!t) return 'unanswered'
  if (!ed25519Verify(ctx.relayerKey, revealBytes(ctx.challengeSignature, ctx.root), t.reveal))
    return 'unanswered'
  if (
    !ed25519Verify(
      ctx.providerKey,
      answerBytes(ctx.challengeSignature, ctx.root, t.rows, t.roots),
      t.signature,
    )
  )
    return 'unanswered'
  const roots = t.roots ?? [ctx.root]
  const perProduct = Math.min(CHALLENGE_ROWS, ctx.n)
  if (
    roots.length !== ctx.count ||
    combinedRoot(roots) !== ctx.root ||
    t.rows.length !== perProduct * ctx.count
  )
    return 'failed'
  const seed = Buffer.from(ctx.seed.slice(2), 'hex')
  const revealSeed = revealSeedOf(t.reveal)
  for (let i = 0; i < ctx.count; i++) {
    // Decoded a product at a time, and the loop gets a turn between: 16 products at n = 16,384 are 16.7M numbers.
    const rows = decodeRows(t.rows.slice(i * perProduct, (i + 1) * perProduct))?.rows
    if (!rows) return 'failed'
    await new Promise<void>((resolve) => setImmediate(resolve))
    const ok = (
      await yielding(
        verifyAnswerSteps(productSeed(seed, i), ctx.n, roots[i]!, productRevealSeed(revealSeed, i), { rows }),
      )
    ).ok
    if (!ok) return 'failed'
  }
  return 'passed'
}
