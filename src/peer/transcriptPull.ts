import { z } from 'zod'
import { maxAnswerBytes, transcriptSchema, transcriptVerdict } from '../gpu/transcript.js'
import type { SignedHeartbeat } from '../heartbeat/schema.js'
import type { OrderTerms } from '../order.js'
import { getSealed, type GossipOptions, type Peer } from './peerClient.js'

const transcriptBody = z.object({
  orderId: z.string(),
  slot: z.number().int().nonnegative(),
  relayerId: z.string(),
  transcript: z.unknown(),
})

/**
 * Pulls the transcript of the compute challenge a kept heartbeat answers from
 * the peer that said it holds one, and keeps it if it checks: the reveal
 * signed by the relayer that challenged, the answer signed by the provider,
 * and the rows (Freivalds) giving `passed` or, for rows the provider signed
 * wrong, `failed` — its own proof of cheating. A transcript neither signature
 * covers proves nothing, and one that does not show the verdict the peer
 * claimed for it, count as junk against the peer.
 */
export async function pullTranscript(
  o: GossipOptions,
  peer: Peer,
  order: OrderTerms,
  heartbeat: SignedHeartbeat,
  claimed: 'passed' | 'failed',
  signal?: AbortSignal,
): Promise<'kept' | 'nothing' | 'junk'> {
  const { challenge, signature: challengeSignature } = heartbeat.heartbeat.challenge
  const root = heartbeat.heartbeat.commitment
  if (!challenge.compute || !root) return 'junk'
  const answer = await getSealed(
    o,
    peer,
    `/v1/peer/transcript?order=${order.id}&slot=${challenge.slot}&relayer=${challenge.relayerId}`,
    'transcript',
    transcriptBody,
    signal,
    maxAnswerBytes(challenge.compute.n, challenge.compute.count),
  )
  if (answer.status !== 'ok') return answer.status === 'bad' ? 'junk' : 'nothing'
  const b = answer.body
  const parsed = transcriptSchema.safeParse(b.transcript)
  if (
    b.orderId !== order.id ||
    b.slot !== challenge.slot ||
    b.relayerId !== challenge.relayerId ||
    !parsed.success
  )
    return 'junk'
  const verdict = await transcriptVerdict(
    {
      seed: challenge.compute.seed,
      n: challenge.compute.n,
      count: challenge.compute.count,
      root,
      challengeSignature,
      relayerKey: challenge.relayerKey,
      providerKey: order.providerId,
    },
    parsed.data,
  )
  // The peer said what the transcript shows before we paid for the check: anything else is junk.
  if (verdict !== claimed) return 'junk'
  await o.store.putTranscript({
    orderId: order.id,
    slot: challenge.slot,
    relayerId: challenge.relayerId,
    challengeKey: `${challengeSignature}:${root}`,
    transcript: JSON.stringify(parsed.data),
    verdict,
  })
  return 'kept'
}
