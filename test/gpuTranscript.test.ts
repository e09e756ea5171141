import { describe, expect, it } from 'vitest'
import { cpuReferenceProver } from '../src/agent/prover.js'
import { generateEd25519 } from '../src/ed25519.js'
import {
  answerBytes,
  encodeRows,
  revealBytes,
  revealSeedOf,
  transcriptVerdict,
  type Transcript,
} from '../src/gpu/transcript.js'

const relayer = generateEd25519().signer
const provider = generateEd25519().signer
const stranger = generateEd25519().signer
const SEED = Buffer.alloc(32, 7)
const N = 24
const CHALLENGE_SIG = `0x${'ab'.repeat(64)}`

async function answered(): Promise<{ root: string; t: Transcript }> {
  const prover = cpuReferenceProver()
  const root = await prover.commit(SEED, N)
  const reveal = relayer.sign(revealBytes(CHALLENGE_SIG, root))
  const held = (await prover.answer(SEED, N, revealSeedOf(reveal)))!
  const rows = encodeRows(held.answer)
  return { root, t: { reveal, rows, signature: provider.sign(answerBytes(CHALLENGE_SIG, root, rows)) } }
}

const ctx = (root: string) => ({
  seed: `0x${SEED.toString('hex')}`,
  n: N,
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
    expect(transcriptVerdict(ctx(root), t)).toBe('passed')
  })

  it('holds the provider to rows it signed that do not check: failed, a proof anyone can re-check', async () => {
    const { root, t } = await answered()
    const rows = tampered(t.rows)
    const signedWrong = { ...t, rows, signature: provider.sign(answerBytes(CHALLENGE_SIG, root, rows)) }
    expect(transcriptVerdict(ctx(root), signedWrong)).toBe('failed')
  })

  it('proves nothing against the provider with rows it did not sign, or a reveal the relayer did not sign', async () => {
    const { root, t } = await answered()
    expect(transcriptVerdict(ctx(root), { ...t, rows: tampered(t.rows) })).toBe('unanswered')
    const forgedReveal = stranger.sign(revealBytes(CHALLENGE_SIG, root))
    expect(transcriptVerdict(ctx(root), { ...t, reveal: forgedReveal })).toBe('unanswered')
    expect(transcriptVerdict(ctx(root), undefined)).toBe('unanswered')
  })

  it('fails rows of an old commitment replayed for a new seed, though each is committed and signed', async () => {
    const { root, t } = await answered()
    const otherSeed = `0x${Buffer.alloc(32, 8).toString('hex')}`
    expect(transcriptVerdict({ ...ctx(root), seed: otherSeed }, t)).toBe('failed')
  })
})
