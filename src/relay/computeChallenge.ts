import { createHash } from 'node:crypto'
import { canonicalJson } from '../canonicalJson.js'
import type { Ed25519Signer } from '../ed25519.js'
import { CLOSING_CHECKS, isChallengedSlot } from '../gpu/challengeSchedule.js'
import { challengeSizeOf } from '../gpu/deadlines.js'
import {
  maxAnswerBytes,
  revealBytes,
  transcriptSchema,
  transcriptVerdict,
  type ComputeVerdict,
  type Transcript,
} from '../gpu/transcript.js'
import type { SignedHeartbeat } from '../heartbeat/schema.js'
import { safeRequest, type SafeHttp, type SafeHttpOptions } from '../http/safeHttp.js'
import type { Logger } from '../log.js'
import type { OrderTerms } from '../order.js'
import type { Store } from '../store/store.js'

export type ComputeResult =
  'COMPUTE_PASSED' | 'COMPUTE_FAILED' | 'COMPUTE_DECLINED' | 'COMPUTE_LATE' | 'COMPUTE_UNANSWERED'

export interface ComputeChallengeOptions {
  relayerId: string
  identity: Ed25519Signer
  /** Compute challenges per million slots of each order (docs/PROTOCOL.md §9); 0 sends none. */
  perMillion: number
  /** The quorum's shared schedule secret: every member then challenges the same slots. */
  sharedSecret?: string
  store: Store
  http: SafeHttp
  httpOptions: SafeHttpOptions
  logger: Logger
}

/**
 * The relayer's half of a compute challenge: which slots carry one (a keyed
 * hash of a secret only this relayer can derive, so the provider cannot tell),
 * and, once the provider's heartbeat committed to C, the reveal and the check
 * of its answer. The transcript is kept beside the heartbeat, so peers can
 * check it too.
 */
export class ComputeChallenges {
  private readonly secret: Buffer

  constructor(private readonly o: ComputeChallengeOptions) {
    // Shared, the quorum's; else one only this key can make (Ed25519 signs deterministically), the same after a restart.
    this.secret = createHash('sha256')
      .update('qantara/challenge-schedule/v1\n')
      .update(o.sharedSecret ?? o.identity.sign(Buffer.from('qantara/challenge-schedule/v1')))
      .digest()
  }

  /** The size of the compute challenge this relayer sends in this slot, or undefined for none. */
  sizeFor(order: Pick<OrderTerms, 'id' | 'slots' | 'gpu'>, slot: number): number | undefined {
    const size = challengeSizeOf(order.gpu.class)
    if (!size || this.o.perMillion === 0) return undefined
    const closing = slot >= order.slots - CLOSING_CHECKS
    return closing || isChallengedSlot(this.secret, order.id, slot, this.o.perMillion) ? size.n : undefined
  }

  /**
   * Completes a challenge whose heartbeat is kept: a commitment later than the
   * class's deadline, or none, leaves the record unanswered (it does not count
   * for this relayer); otherwise the reveal, the answer, and the verdict any
   * relayer reaches on them.
   */
  async complete(
    order: OrderTerms,
    agentUrl: string,
    heartbeat: SignedHeartbeat,
    elapsedMs: number,
    signal?: AbortSignal,
  ): Promise<ComputeResult> {
    const { challenge, signature: challengeSignature } = heartbeat.heartbeat.challenge
    const root = heartbeat.heartbeat.commitment
    const compute = challenge.compute!
    const deadline = challengeSizeOf(order.gpu.class)?.commitMs ?? 0
    if (!root) return 'COMPUTE_DECLINED'
    if (elapsedMs > deadline) {
      this.o.logger.warn(
        { orderId: order.id, slot: challenge.slot, elapsedMs, deadline },
        'commitment too late',
      )
      return 'COMPUTE_LATE'
    }
    const reveal = this.o.identity.sign(revealBytes(challengeSignature, root))
    // Asked twice: a lost answer would otherwise leave this relayer's record unanswered (the agent answers a repeat from memory).
    const transcript =
      (await this.fetchAnswer(agentUrl, heartbeat, root, reveal, signal)) ??
      (await this.fetchAnswer(agentUrl, heartbeat, root, reveal, signal))
    if (!transcript) return 'COMPUTE_UNANSWERED'
    const verdict = await transcriptVerdict(
      {
        seed: compute.seed,
        n: compute.n,
        count: compute.count,
        root,
        challengeSignature,
        relayerKey: challenge.relayerKey,
        providerKey: order.providerId,
      },
      transcript,
    )
    if (verdict !== 'unanswered')
      await this.o.store.putTranscript({
        orderId: order.id,
        slot: challenge.slot,
        relayerId: this.o.relayerId,
        challengeKey: `${challengeSignature}:${root}`,
        transcript: JSON.stringify(transcript),
        verdict,
      })
    return RESULT[verdict]
  }

  private async fetchAnswer(
    agentUrl: string,
    heartbeat: SignedHeartbeat,
    root: string,
    reveal: string,
    signal?: AbortSignal,
  ): Promise<Transcript | undefined> {
    const { n, count } = heartbeat.heartbeat.challenge.challenge.compute!
    try {
      const res = await safeRequest(this.o.http, this.o.httpOptions, {
        method: 'POST',
        url: `${agentUrl.replace(/\/+$/, '')}/v1/reveal`,
        body: canonicalJson({ challenge: heartbeat.heartbeat.challenge, root, reveal }),
        maxBytes: maxAnswerBytes(n, count),
        ...(signal ? { signal } : {}),
      })
      if (res.status !== 200) return undefined
      const parsed = transcriptSchema.safeParse(JSON.parse(res.body))
      // The answer must carry this relayer's own reveal: the provider signs over rows, not over whose reveal drew them.
      return parsed.success && parsed.data.reveal === reveal ? parsed.data : undefined
    } catch (err) {
      this.o.logger.debug({ agentUrl, err }, 'compute challenge answer unavailable')
      return undefined
    }
  }
}

const RESULT: Record<Exclude<ComputeVerdict, 'declined'>, ComputeResult> = {
  passed: 'COMPUTE_PASSED',
  failed: 'COMPUTE_FAILED',
  unanswered: 'COMPUTE_UNANSWERED',
}
