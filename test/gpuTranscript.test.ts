import { describe, expect, it } from 'vitest'
import { cpuReferenceProver } from '../src/agent/prover.js'
import { generateEd25519 } from '../src/ed25519.js'
import {
  answerBytes,
  encodeRows,
  maxAnswerBytes,
  revealBytes,
  revealSeedOf,
  transcriptSchema,
  transcriptVerdict,
  type Transcript,
} from '../src/gpu/transcript.js'
import { combinedRoot, productRevealSeed, productSeed } from '../src/gpu/products.js'
import { CHALLENGE_ROWS } from '../src/gpu/freivalds.js'

const relayer = generateEd25519().signer
const provider = generateEd25519().signer
const stranger = generateEd25519().signer
const SEED = Buffer.alloc(32, 7)
const N = 24
const CHALLENGE_SIG = `0x${'ab'.repeat(64)}`

/** An honest answer of `count` products, as the agent builds it. */
async function answered(count = 1): Promise<{ root: string; t: Transcript }> {
  const prover = cpuReferenceProver()
  const roots = await Promise.all(
    Array.from({ length: count }, (_, i) => prover.commit(productSeed(SEED, i), N, i, relayer.publicKey)),
  )
  const root = combinedRoot(roots)
  const reveal = relayer.sign(revealBytes(CHALLENGE_SIG, root))
  const held = await Promise.all(
    roots.map(
      async (_, i) =>
        (await prover.answer(
          productSeed(SEED, i),
          N,
          productRevealSeed(revealSeedOf(reveal), i),
          i,
          relayer.publicKey,
        ))!,
    ),
  )
  const rows = held.flatMap((p) => encodeRows(p.answer))
  const several = count > 1 ? roots : undefined
  const signature = provider.sign(answerBytes(CHALLENGE_SIG, root, rows, several))
  return { root, t: { reveal, ...(several ? { roots: several } : {}), rows, signature } }
}

const ctx = (root: string, count = 1) => ({
  seed: `0x${SEED.toString('hex')}`,
  n: N,
  count,
  root,
  challengeSignature: CHALLENGE_SIG,
  relayerKey: relayer.publicKey,
  providerKey: provider.publicKey,
})

/** The first row's first entry changed by one. */
function tampered(rows: Transcript['rows']): Transcript['rows'] {
  const [first, ...rest] = rows
  const values = Buffer.from(first!.values, 'base64')
  values.writeInt32LE(values.readInt32LE(0) + 1, 0)
  return [{ ...first!, values: values.toString('base64') }, ...rest]
}

describe('compute challenge transcripts', () => {
  it('passes an honest answer to the reveal the relayer signed', async () => {
    const { root, t } = await answered()
    expect(t.rows).toHaveLength(N)
    expect(await transcriptVerdict(ctx(root), t)).toBe('passed')
  })

  it('holds the provider to rows it signed that do not check: failed, a proof anyone can re-check', async () => {
    const { root, t } = await answered()
    const rows = tampered(t.rows)
    const signedWrong = { ...t, rows, signature: provider.sign(answerBytes(CHALLENGE_SIG, root, rows)) }
    expect(await transcriptVerdict(ctx(root), signedWrong)).toBe('failed')
  })

  it('proves nothing against the provider with rows it did not sign, or a reveal the relayer did not sign', async () => {
    const { root, t } = await answered()
    expect(await transcriptVerdict(ctx(root), { ...t, rows: tampered(t.rows) })).toBe('unanswered')
    const forgedReveal = stranger.sign(revealBytes(CHALLENGE_SIG, root))
    expect(await transcriptVerdict(ctx(root), { ...t, reveal: forgedReveal })).toBe('unanswered')
    expect(await transcriptVerdict(ctx(root), undefined)).toBe('unanswered')
  })

  it('checks every product of an order of several GPUs, each against its own seed and reveal', async () => {
    const { root, t } = await answered(3)
    expect([t.roots, t.rows.length]).toEqual([expect.any(Array), 3 * N])
    expect(await transcriptVerdict(ctx(root, 3), t)).toBe('passed')
    // Product 2's rows wrong under the provider's signature: the whole answer fails.
    const rows = [...t.rows.slice(0, 2 * N), ...tampered(t.rows.slice(2 * N))]
    const signature = provider.sign(answerBytes(CHALLENGE_SIG, root, rows, t.roots))
    expect(await transcriptVerdict(ctx(root, 3), { ...t, rows, signature })).toBe('failed')
  })

  it('fails a provider that computes one product and copies it for the others, or answers fewer products than GPUs', async () => {
    const { root, t } = await answered(1)
    // One GPU's work standing for two: the same C twice, committed and signed.
    const twice = [root, root]
    const copied = combinedRoot(twice)
    const reveal = relayer.sign(revealBytes(CHALLENGE_SIG, copied))
    const prover = cpuReferenceProver()
    await prover.commit(SEED, N, 0, relayer.publicKey)
    const one = encodeRows((await prover.answer(SEED, N, revealSeedOf(reveal), 0, relayer.publicKey))!.answer)
    const rows = [...one, ...one]
    const signature = provider.sign(answerBytes(CHALLENGE_SIG, copied, rows, twice))
    expect(await transcriptVerdict(ctx(copied, 2), { reveal, roots: twice, rows, signature })).toBe('failed')
    // A one-product answer, signed, to a challenge of two.
    expect(await transcriptVerdict(ctx(root, 2), t)).toBe('failed')
  })

  it('fails rows of an old commitment replayed for a new seed, though each is committed and signed', async () => {
    const { root, t } = await answered()
    const otherSeed = `0x${Buffer.alloc(32, 8).toString('hex')}`
    expect(await transcriptVerdict({ ...ctx(root), seed: otherSeed }, t)).toBe('failed')
  })

  it('takes a full-size answer at the production size: the schema and the byte bound fit what an honest provider sends', () => {
    const n = 16_384
    const values = Buffer.alloc(4 * n).toString('base64')
    const path = Array.from({ length: Math.ceil(Math.log2(n)) }, () => `0x${'cd'.repeat(32)}`)
    const rows = (count: number) =>
      Array.from({ length: CHALLENGE_ROWS * count }, (_, i) => ({ index: n - 1 - (i % n), values, path }))
    for (const count of [1, 2]) {
      const t = {
        reveal: `0x${'ab'.repeat(64)}`,
        ...(count > 1 ? { roots: Array.from({ length: count }, () => `0x${'ef'.repeat(32)}`) } : {}),
        rows: rows(count),
        signature: `0x${'12'.repeat(64)}`,
      }
      expect(transcriptSchema.safeParse(t).success).toBe(true)
      const bytes = Buffer.byteLength(JSON.stringify(t))
      expect(bytes).toBeLessThanOrEqual(maxAnswerBytes(n, count))
      // And not wildly more: the bound is what a relayer reads before it drops an answer.
      expect(maxAnswerBytes(n, count)).toBeLessThan(1.1 * bytes)
    }
  })
})
