import type { Ed25519Signer } from '../ed25519.js'
import type { ChallengeAnswer } from '../gpu/freivalds.js'
import { combinedRoot, productRevealSeed, productSeed } from '../gpu/products.js'
import { answerBytes, encodeRows, revealSeedOf, type Transcript } from '../gpu/transcript.js'
import type { Challenge, SignedChallenge } from '../heartbeat/schema.js'
import type { Logger } from '../log.js'
import type { ComputeProver } from './prover.js'
import { RateLimiter } from './rateLimit.js'

/** A compute challenge must have been issued this close to the agent's clock: none can be stocked up for later. */
const COMPUTE_SKEW_MS = 60_000
/** Answers to reveals kept for replays, in bytes: a relayer's retry comes within seconds, and one answer is ~6 MB a product. */
const MAX_REVEALED_BYTES = 64 * 1024 * 1024

export interface ComputeAnswersOptions {
  /** Without one, a compute challenge is answered with no commitment and that relayer's record of the slot does not count. */
  prover?: ComputeProver
  signer: Ed25519Signer
  /** The host's GPUs, as its record lists them. */
  gpus: number
  /** Compute challenges per relayer key over all orders; by default one per GPU every 20 s, three per GPU at once. */
  rateLimit?: { perSecond: number; burst: number }
  /** Products of one relayer in progress at once; by default the host's GPU count. */
  concurrency?: number
  logger: Logger
}

/**
 * The agent's side of compute challenges, after the HTTP layer checked who
 * asks: what GPU work a relayer may ask for, the commitment to it (one
 * product per GPU at once, each relayer's kept apart), and the signed answer
 * to a reveal.
 */
export class ComputeAnswers {
  /** Products being computed, per relayer key. */
  private readonly computing = new Map<string, number>()
  private readonly limiter: RateLimiter
  /** Answers to reveals, by challenge, root and reveal, bounded by bytes. */
  private readonly revealed = new Map<string, string>()
  private revealedBytes = 0

  constructor(private readonly o: ComputeAnswersOptions) {
    const gpus = Math.max(1, o.gpus)
    const limit = o.rateLimit ?? { perSecond: gpus / 20, burst: 3 * gpus }
    this.limiter = new RateLimiter(limit.perSecond, limit.burst)
  }

  /**
   * Why a compute challenge gets no GPU work, if it does not: GPU work only
   * after this relayer holds our heartbeat of the slot (`presence`, its
   * signature), for a challenge issued now, for no more products than the
   * host has GPUs, no more of one relayer's at once than that, and within a
   * budget per relayer over all orders, so a relayer making up orders or
   * slots cannot queue work without end.
   */
  refuse(challenge: Challenge, presence: string | undefined): { status: number; error: string } | undefined {
    const compute = challenge.compute!
    if (presence !== compute.follows) return { status: 409, error: 'NO_PRESENCE' }
    if (Math.abs(Date.now() - challenge.issuedAt) > COMPUTE_SKEW_MS)
      return { status: 400, error: 'STALE_CHALLENGE' }
    // The host's own GPUs bound it, not the count a relayer names: more products than GPUs would queue on one.
    if (compute.count > this.o.gpus) return { status: 409, error: 'TOO_MANY_GPUS' }
    const busy = this.computing.get(challenge.relayerKey) ?? 0
    if (busy + compute.count > (this.o.concurrency ?? this.o.gpus)) return { status: 429, error: 'BUSY' }
    // Over all orders, which the agent cannot tell real from made up.
    if (!this.limiter.take(challenge.relayerKey)) return { status: 429, error: 'RATE_LIMITED' }
    return undefined
  }

  /**
   * The commitment to a compute challenge, one product per GPU at once, kept
   * for the relayer that asked, or undefined when there is no prover or it
   * failed (logged; the heartbeat still goes).
   */
  async commit(challenge: Challenge): Promise<string | undefined> {
    const prover = this.o.prover
    const compute = challenge.compute!
    if (!prover) return undefined
    const holder = challenge.relayerKey
    const seed = Buffer.from(compute.seed.slice(2), 'hex')
    this.computing.set(holder, (this.computing.get(holder) ?? 0) + compute.count)
    try {
      const roots = await Promise.all(
        Array.from({ length: compute.count }, (_, i) =>
          prover.commit(productSeed(seed, i), compute.n, i, holder),
        ),
      )
      return combinedRoot(roots)
    } catch (err) {
      this.o.logger.error({ err: (err as Error).message, n: compute.n }, 'compute challenge not committed')
      return undefined
    } finally {
      const left = (this.computing.get(holder) ?? 0) - compute.count
      if (left > 0) this.computing.set(holder, left)
      else this.computing.delete(holder)
    }
  }

  /**
   * The signed rows a relayer's reveal (checked by the caller) draws from
   * what this agent committed for its challenge, or undefined when `root` is
   * not that commitment: the same reveal again is answered from memory.
   */
  async answer(signed: SignedChallenge, root: string, reveal: string): Promise<string | undefined> {
    const cacheKey = `${signed.signature}:${root}:${reveal}`
    const cached = this.revealed.get(cacheKey)
    if (cached) return cached
    const { relayerKey, compute } = signed.challenge
    const { seed, n, count } = compute!
    const held = await this.products(
      Buffer.from(seed.slice(2), 'hex'),
      n,
      count,
      revealSeedOf(reveal),
      relayerKey,
    )
    if (!held || combinedRoot(held.map((p) => p.root)) !== root) return undefined
    const rows = held.flatMap((p) => encodeRows(p.answer))
    const roots = count > 1 ? held.map((p) => p.root) : undefined
    const transcript: Transcript = {
      reveal,
      ...(roots ? { roots } : {}),
      rows,
      signature: this.o.signer.sign(answerBytes(signed.signature, root, rows, roots)),
    }
    const text = JSON.stringify(transcript)
    this.revealed.set(cacheKey, text)
    this.revealedBytes += text.length
    // Kept by bytes, not count: an answer of 16 products at n = 16,384 is about 90 MB.
    while (this.revealed.size > 1 && this.revealedBytes > MAX_REVEALED_BYTES) {
      const [oldest, body] = this.revealed.entries().next().value!
      this.revealed.delete(oldest)
      this.revealedBytes -= body.length
    }
    return text
  }

  /** Every product's answer to a reveal, or undefined when any of them is not committed. */
  private async products(
    seed: Uint8Array,
    n: number,
    count: number,
    revealSeed: Uint8Array,
    holder: string,
  ): Promise<{ root: string; answer: ChallengeAnswer }[] | undefined> {
    const prover = this.o.prover
    if (!prover) return undefined
    const held = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        prover.answer(productSeed(seed, i), n, productRevealSeed(revealSeed, i), i, holder),
      ),
    )
    return held.every((p) => p !== undefined) ? held : undefined
  }
}
