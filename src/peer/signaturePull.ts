import { encodeLeg, type ReleaseLeg } from '../vault/releaseLeg.js'
import { z } from 'zod'
import type { SettlementSignature } from '../chains.js'
import { QantaraError } from '../errors.js'
import type { OrderTerms } from '../order.js'
import type { RetargetApproval } from './retargetApprovals.js'
import type { Settlement } from '../settlement.js'
import { settlementHash, settlementToWire } from '../settlementWire.js'
import { getSealed, type GossipOptions, type Peer } from './peerClient.js'

const cosignatureBody = z.object({
  orderId: z.string(),
  signer: z.string().max(128),
  signature: z.string().max(512),
})
const signatureBody = z.object({
  orderId: z.string(),
  settlement: z.unknown(),
  settlementHash: z.string(),
  signer: z.string().max(128),
  signature: z.string().max(512),
})
const retargetBody = z.object({
  chain: z.string(),
  epoch: z.string(),
  headersHash: z.string(),
  signer: z.string().max(128),
  signature: z.string().max(512),
})

export type VerifySignature = (peerId: string, sig: SettlementSignature) => Promise<boolean>

/**
 * Collects peers' signatures over `settlement`, kept only when they are over
 * the same settlement bytes as ours and `verify` accepts them on the chain's
 * terms (the right key for that peer, over these bytes).
 */
export async function pullSignatures(
  o: GossipOptions,
  order: OrderTerms,
  settlement: Settlement,
  verify: VerifySignature,
  signal?: AbortSignal,
): Promise<void> {
  const ours = settlementHash(settlement)
  const held = new Map((await o.store.listSignatures(order.id)).map((s) => [s.relayerId, s]))
  // Every peer is asked every round: one may have recomputed since, away from our settlement or onto it.
  await Promise.all(
    o.peers.map(async (peer) => {
      try {
        const answer = await getSealed(
          o,
          peer,
          `/v1/peer/signatures/${order.id}`,
          'signature',
          signatureBody,
          signal,
        )
        if (answer.status !== 'ok') return
        const body = answer.body
        if (body.orderId !== order.id)
          return void o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BAD_ENVELOPE' })
        if (body.settlementHash !== ours) {
          // What it signed before, if it was ours, no longer stands: it is not counted towards a quorum.
          if (held.has(peer.id)) await o.store.deleteSignature(order.id, peer.id)
          o.metrics.settlementDisagreements.inc({ peer: peer.id })
          o.logger.debug(
            { orderId: order.id, peer: peer.id, ours: settlementToWire(settlement), theirs: body.settlement },
            'peer signed a different settlement; not counting it',
          )
          return
        }
        const kept = held.get(peer.id)
        if (kept?.settlementHash === ours && kept.signature === body.signature) return
        const sig = { signer: body.signer, signature: body.signature }
        if (!(await verify(peer.id, sig)))
          return void o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BAD_SETTLEMENT_SIGNATURE' })
        await o.store.putSignature({
          orderId: order.id,
          relayerId: peer.id,
          settlementHash: ours,
          ...sig,
          receivedAt: Date.now(),
        })
      } catch (err) {
        o.logger.debug({ peer: peer.id, orderId: order.id, err }, 'peer signature unavailable')
      }
    }),
  )
}

/**
 * Collects peers' approvals of the retarget out of `epoch` on `chain` with
 * the headers hashing to `headersHash`, from the peers not in `have`.
 * `verify` checks one on the chain's terms (that peer's key, over our headers).
 */
export async function pullRetargetApprovals(
  o: GossipOptions,
  chain: string,
  epoch: bigint,
  headersHash: string,
  have: ReadonlySet<string>,
  verify: VerifySignature,
  signal?: AbortSignal,
): Promise<RetargetApproval[]> {
  const ask = async (peer: Peer): Promise<RetargetApproval | undefined> => {
    const answer = await getSealed(
      o,
      peer,
      `/v1/peer/retarget?chain=${encodeURIComponent(chain)}&epoch=${epoch}`,
      'retarget',
      retargetBody,
      signal,
    )
    if (answer.status !== 'ok') return undefined
    const body = answer.body
    if (body.chain !== chain || body.epoch !== epoch.toString())
      return void o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BAD_ENVELOPE' })
    if (body.headersHash !== headersHash) {
      o.metrics.peerRejections.inc({ peer: peer.id, reason: 'RETARGET_HEADERS_DIFFER' })
      o.logger.warn(
        { chain, epoch: epoch.toString(), peer: peer.id, ours: headersHash, theirs: body.headersHash },
        'peer approved other retarget headers; not counting it',
      )
      return undefined
    }
    const sig = { signer: body.signer, signature: body.signature }
    if (!(await verify(peer.id, sig)))
      return void o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BAD_RETARGET_APPROVAL' })
    return { relayerId: peer.id, headersHash, ...sig }
  }
  const found = await Promise.all(
    o.peers
      .filter((p) => !have.has(p.id))
      .map((peer) =>
        ask(peer).catch((err: unknown) => {
          o.logger.debug(
            { peer: peer.id, chain, epoch: epoch.toString(), err },
            'peer retarget approval unavailable',
          )
          return undefined
        }),
      ),
  )
  return found.filter((a) => a !== undefined)
}

/**
 * Asks one peer to co-sign a release message for `orderId`. The peer signs
 * only the release it rebuilds from its own settlement; the caller checks
 * the signature against the peer's chain key.
 */
export async function requestCosignature(
  o: GossipOptions,
  peerId: string,
  orderId: string,
  message: string,
  leg: ReleaseLeg,
  signal?: AbortSignal,
): Promise<SettlementSignature> {
  const peer = o.peers.find((p) => p.id === peerId)
  if (!peer) throw new QantaraError('SUBMIT_FAILED', `no peer ${peerId} to co-sign with`, { retryable: true })
  const legParam = leg.kind === 'settlement' ? '' : `&leg=${encodeLeg(leg)}`
  const path = `/v1/peer/cosign/${orderId}?message=${Buffer.from(message, 'base64').toString('base64url')}${legParam}`
  const answer = await getSealed(o, peer, path, 'cosignature', cosignatureBody, signal)
  if (answer.status === 'absent')
    throw new QantaraError(
      'SUBMIT_FAILED',
      `${peerId} did not co-sign the release of ${orderId}: HTTP ${answer.httpStatus} ${answer.text}`,
      { retryable: true },
    )
  if (answer.status === 'bad' || answer.body.orderId !== orderId) {
    if (answer.status === 'ok') o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BAD_ENVELOPE' })
    throw new QantaraError(
      'SUBMIT_FAILED',
      `${peerId} answered the co-signing of ${orderId} with a bad envelope`,
      { retryable: true },
    )
  }
  return { signer: answer.body.signer, signature: answer.body.signature }
}
