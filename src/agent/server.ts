import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { ed25519Verify, type Ed25519Signer } from '../ed25519.js'
import { challengeBytes, heartbeatBytes } from '../heartbeat/bytes.js'
import {
  signedChallengeSchema,
  type Heartbeat,
  type SignedChallenge,
  type SignedHeartbeat,
} from '../heartbeat/schema.js'
import { BodyTooLarge, readBody, sendJson } from '../http/body.js'
import { agentRoute, type AgentMetrics } from './metrics.js'
import type { Logger } from '../log.js'
import { canonicalJson } from '../canonicalJson.js'
import { providerRecordBytes, type ProviderRecord, type SignedProviderRecord } from '../registry/record.js'
import { ORDER_LIMITS } from '../order.js'
import { sourceAddressKey } from '../http/sourceAddress.js'
import { AnswerBook } from './answerBook.js'
import { ADDRESS_RATE_LIMIT } from './config.js'
import { RateLimiter } from './rateLimit.js'
import type { Telemetry } from './telemetry.js'
import { errorMessage } from '../errors.js'
import type { ComputeProver } from './prover.js'
import { revealBytes } from '../gpu/transcript.js'
import { ComputeAnswers } from './computeAnswers.js'
import { z } from 'zod'

const MAX_CHALLENGE_BYTES = 4 * 1024
/** Heartbeats remembered at most: ~20,000 keys are a few MB, and their bodies are kept ten minutes only. */
const MAX_ANSWERS = 20_000

export interface AgentOptions {
  signer: Ed25519Signer
  record: Omit<ProviderRecord, 'providerId' | 'seq' | 'expiresAt' | 'v'>
  recordTtlSeconds: number
  telemetry: () => Promise<Telemetry>
  rateLimit: { perSecond: number; burst: number }
  /** Compute challenges per relayer key over all orders; by default one per GPU every 20 s, three per GPU at once. */
  computeRateLimit?: { perSecond: number; burst: number }
  /** Products of one relayer in progress at once; by default the host's GPU count. */
  computeConcurrency?: number
  /** A token bucket per source address (IPv6 by /64), in front of every route; ADDRESS_RATE_LIMIT when absent. */
  addressRateLimit?: { perSecond: number; burst: number }
  /** Identity keys of the quorum's relayers (lower-case 0x hex): when given, a challenge from any other key is refused with 403. */
  relayerKeys?: readonly string[]
  tls?: { cert: Buffer; key: Buffer }
  logger: Logger
  /** Answers compute challenges; without one, a challenged heartbeat carries no commitment and that relayer's record of the slot does not count. */
  prover?: ComputeProver
  /** Counts each answer by route and status. */
  metrics?: AgentMetrics
}

/**
 * The provider agent: serves its signed provider record and answers relayers'
 * challenges with heartbeats signed by the provider key, carrying what
 * nvidia-smi measured at that moment.
 */
export class ProviderAgent {
  readonly server: Server
  private signedRecord: SignedProviderRecord
  private readonly limiter: RateLimiter
  private readonly compute: ComputeAnswers
  private readonly perAddress: RateLimiter
  private readonly relayerKeys: ReadonlySet<string> | undefined
  /** Keys as long as the longest slot, so a relayer cannot outwait them within one; bytes for ten minutes, for retries. */
  private readonly answers = new AnswerBook({
    bodyTtlMs: 10 * 60_000,
    keyTtlMs: ORDER_LIMITS.maxSlotLength * 1000,
    maxEntries: MAX_ANSWERS,
  })

  /** Heartbeats being signed, by answer key: a retry meanwhile gets the same bytes, never a second product. */
  private readonly pending = new Map<string, Promise<string>>()

  constructor(private readonly o: AgentOptions) {
    this.limiter = new RateLimiter(o.rateLimit.perSecond, o.rateLimit.burst)
    this.compute = new ComputeAnswers({
      ...(o.prover ? { prover: o.prover } : {}),
      signer: o.signer,
      gpus: o.record.gpus.length,
      ...(o.computeRateLimit ? { rateLimit: o.computeRateLimit } : {}),
      ...(o.computeConcurrency ? { concurrency: o.computeConcurrency } : {}),
      logger: o.logger,
    })
    const perAddress = o.addressRateLimit ?? ADDRESS_RATE_LIMIT
    this.perAddress = new RateLimiter(perAddress.perSecond, perAddress.burst)
    this.relayerKeys = o.relayerKeys && new Set(o.relayerKeys.map((k) => k.toLowerCase()))
    this.signedRecord = this.signRecord()
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      const metrics = o.metrics
      if (metrics) {
        const route = agentRoute((req.url ?? '/').split('?')[0]!)
        res.once('finish', () => metrics.requests.inc({ route, status: String(res.statusCode) }))
      }
      this.handle(req, res).catch((err: unknown) => {
        o.logger.error({ err: (err as Error).message }, 'agent request failed')
        if (!res.headersSent) sendJson(res, 500, { error: 'INTERNAL' })
      })
    }
    this.server = o.tls
      ? createHttpsServer({ cert: o.tls.cert, key: o.tls.key }, handler)
      : createHttpServer(handler)
    this.server.requestTimeout = 10_000
    this.server.headersTimeout = 5_000
  }

  get record(): SignedProviderRecord {
    return this.signedRecord
  }

  /** Re-signs the record with a higher seq (seconds since the epoch, so restarts keep it increasing). */
  refreshRecord(): SignedProviderRecord {
    this.signedRecord = this.signRecord()
    return this.signedRecord
  }

  private signRecord(): SignedProviderRecord {
    const now = Math.floor(Date.now() / 1000)
    const prevSeq = this.signedRecord?.record.seq ?? 0
    const record: ProviderRecord = {
      v: 1,
      providerId: this.o.signer.publicKey,
      ...this.o.record,
      seq: Math.max(now, prevSeq + 1),
      expiresAt: now + this.o.recordTtlSeconds,
    }
    return { record, signature: this.o.signer.sign(providerRecordBytes(record)) }
  }

  /**
   * 200 only when nvidia-smi reads every GPU the record offers: an agent that
   * answers heartbeats without them is paid nothing for those slots, so its
   * operator is told what is missing (503), not that all is well.
   */
  private async health(res: ServerResponse): Promise<void> {
    const t: Telemetry = await this.o
      .telemetry()
      .catch((err: unknown) => ({ gpus: null, unavailable: errorMessage(err) }))
    const seen = new Set((t.gpus ?? []).map((g) => g.uuid))
    const missing =
      t.gpus === null
        ? [`no GPU telemetry: ${t.unavailable}`]
        : this.o.record.gpus
            .filter((g) => !seen.has(g.uuid))
            .map((g) => `GPU ${g.uuid} (${g.name}) in the record is not seen by nvidia-smi`)
    sendJson(res, missing.length ? 503 : 200, {
      ok: missing.length === 0,
      gpus: t.gpus?.length ?? 0,
      ...(missing.length ? { missing } : {}),
    })
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Before anything else, however cheap: one address cannot keep the agent busy, whatever keys or order ids it makes up.
    if (!this.perAddress.take(sourceAddressKey(req.socket.remoteAddress)))
      return sendJson(res, 429, { error: 'RATE_LIMITED' })
    const path = (req.url ?? '/').split('?')[0]
    if (req.method === 'GET' && path === '/v1/provider')
      return sendJson(res, 200, undefined, canonicalJson(this.signedRecord))
    if (req.method === 'GET' && path === '/healthz') return this.health(res)
    if (req.method === 'POST' && path === '/v1/reveal') return this.reveal(req, res)
    if (req.method !== 'POST' || path !== '/v1/heartbeat') return sendJson(res, 404, { error: 'NOT_FOUND' })

    let body: Buffer
    try {
      body = await readBody(req, MAX_CHALLENGE_BYTES, 5_000)
    } catch (err) {
      return sendJson(res, err instanceof BodyTooLarge ? 413 : 400, {
        error: err instanceof BodyTooLarge ? 'TOO_LARGE' : 'MALFORMED',
      })
    }
    let parsed
    try {
      parsed = signedChallengeSchema.safeParse(JSON.parse(body.toString('utf8')))
    } catch {
      return sendJson(res, 400, { error: 'MALFORMED' })
    }
    if (!parsed.success) return sendJson(res, 400, { error: 'MALFORMED' })
    const { challenge, signature } = parsed.data
    // Only the quorum's relayers probe: a challenge from any other key is not worth a signature check, an answer or a place in the book.
    if (this.relayerKeys && !this.relayerKeys.has(challenge.relayerKey))
      return sendJson(res, 403, { error: 'UNKNOWN_RELAYER' })
    // Only challenges a relayer really signed get an answer: the agent is not a signing oracle for junk.
    if (!ed25519Verify(challenge.relayerKey, challengeBytes(challenge), signature))
      return sendJson(res, 400, { error: 'BAD_CHALLENGE_SIGNATURE' })
    const presenceKey = AnswerBook.key(challenge.relayerKey, challenge.orderId, challenge.slot)
    const answerKey = challenge.compute ? `${presenceKey}:compute` : presenceKey
    const answered = this.answers.get(answerKey)
    if (answered === 'answered') return sendJson(res, 409, { error: 'ALREADY_ANSWERED' })
    if (answered) return sendJson(res, 200, undefined, answered.body)
    // A retry while the first is still being answered (a commit takes up to the deadline) waits for the same bytes.
    const pending = this.pending.get(answerKey)
    if (pending) return sendJson(res, 200, undefined, await pending)
    // GPU work only after this relayer holds our heartbeat of the slot, and once per relayer, order and slot.
    const refused =
      challenge.compute && this.compute.refuse(challenge, signatureOf(this.answers.get(presenceKey)))
    if (refused) return sendJson(res, refused.status, { error: refused.error })
    // Per relayer and order: many cheap orders naming this provider cannot use up the budget its real orders are probed from.
    if (!this.limiter.take(`${challenge.relayerKey}:${challenge.orderId}`))
      return sendJson(res, 429, { error: 'RATE_LIMITED' })
    const answering = this.sign(parsed.data)
    this.pending.set(answerKey, answering)
    try {
      const text = await answering
      this.answers.put(answerKey, text)
      sendJson(res, 200, undefined, text)
    } finally {
      this.pending.delete(answerKey)
    }
  }

  /** The signed heartbeat answering a challenge, with the commitment to its compute challenge if it has one. */
  private async sign(signedChallenge: SignedChallenge): Promise<string> {
    const { challenge } = signedChallenge
    const telemetry = await this.o.telemetry()
    const commitment = challenge.compute && (await this.compute.commit(challenge))
    const heartbeat: Heartbeat = {
      v: 1,
      challenge: signedChallenge,
      timestamp: Date.now(),
      gpus: telemetry.gpus,
      ...(telemetry.gpus === null ? { gpuUnavailable: telemetry.unavailable } : {}),
      ...(commitment ? { commitment } : {}),
    }
    return canonicalJson({ heartbeat, signature: this.o.signer.sign(heartbeatBytes(heartbeat)) })
  }

  /**
   * The rows a relayer's reveal draws from the C committed for its challenge,
   * signed: only for a challenge and reveal that relayer signed, over the root
   * this agent committed, so nobody can make the provider sign rows for a
   * root it never committed to.
   */
  private async reveal(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: Buffer
    try {
      body = await readBody(req, MAX_CHALLENGE_BYTES, 5_000)
    } catch (err) {
      return sendJson(res, err instanceof BodyTooLarge ? 413 : 400, { error: 'MALFORMED' })
    }
    let parsed
    try {
      parsed = revealRequestSchema.safeParse(JSON.parse(body.toString('utf8')))
    } catch {
      return sendJson(res, 400, { error: 'MALFORMED' })
    }
    if (!parsed.success || !parsed.data.challenge.challenge.compute)
      return sendJson(res, 400, { error: 'MALFORMED' })
    const { challenge: signed, root, reveal } = parsed.data
    const { challenge } = signed
    if (this.relayerKeys && !this.relayerKeys.has(challenge.relayerKey))
      return sendJson(res, 403, { error: 'UNKNOWN_RELAYER' })
    if (
      !ed25519Verify(challenge.relayerKey, challengeBytes(challenge), signed.signature) ||
      !ed25519Verify(challenge.relayerKey, revealBytes(signed.signature, root), reveal)
    )
      return sendJson(res, 400, { error: 'BAD_SIGNATURE' })
    // The same reveal again (a retry, or a replay of a transcript a peer route served) is answered from memory.
    const text = await this.compute.answer(signed, root, reveal)
    if (!text) return sendJson(res, 404, { error: 'NOT_COMMITTED' })
    sendJson(res, 200, undefined, text)
  }
}

/** The provider's signature in a kept heartbeat, if its bytes are still kept. */
function signatureOf(answered: { body: string } | 'answered' | undefined): string | undefined {
  return typeof answered === 'object' ? (JSON.parse(answered.body) as SignedHeartbeat).signature : undefined
}

const revealRequestSchema = z.strictObject({
  challenge: signedChallengeSchema,
  root: z.string().regex(/^0x[0-9a-f]{64}$/),
  reveal: z.string().regex(/^0x[0-9a-f]{128}$/),
})
