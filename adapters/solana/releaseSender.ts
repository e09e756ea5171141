import type { Address, Base64EncodedWireTransaction, Signature } from '@solana/kit'
import { abortableDelay } from '../../src/abort.js'
import type { Logger } from '../../src/log.js'
import type { ReleaseFate, ReleaseSender } from '../../src/vault/releaseFamily.js'
import type { SolanaRpc } from './rpc.js'

/** How long a sent release may stay unseen by the node before it is sent again. */
const RESEND_MS = 10_000

/** A signed release as stored before it is sent: the wire bytes, its signature (the transaction id) and the nonce value it spends. */
export interface SolanaStoredRelease {
  wire: Base64EncodedWireTransaction
  signature: string
  nonce: string
}

export interface SolanaSenderOptions {
  rpc: SolanaRpc
  /** The value of the relayer's own durable nonce now: a release on an older value can never land. */
  nonceOf(nonceAccount: Address): Promise<string>
  nonceAccount: Address
  log: Logger
  pollMs: number
}

/**
 * Sends releases and follows them. A durable-nonce transaction stays valid
 * until its nonce moves, so a dropped one is simply sent again as it is.
 */
export function solanaReleaseSender(o: SolanaSenderOptions): ReleaseSender<SolanaStoredRelease> {
  const resend = (release: SolanaStoredRelease) =>
    o.rpc
      .sendTransaction(release.wire, { encoding: 'base64', skipPreflight: true })
      .send()
      .catch(() => undefined)
  return {
    txHash: (release) => release.signature,
    nonceOf: () => 0,
    async broadcast(orderId, release, fresh) {
      if (!fresh) {
        await resend(release)
        return undefined
      }
      try {
        await o.rpc
          .sendTransaction(release.wire, { encoding: 'base64', preflightCommitment: 'confirmed' })
          .send()
      } catch (err) {
        // A preflight refusal is followed like any send: the nonce tells whether it can still land.
        o.log.warn({ orderId, err: (err as Error).message }, 'release refused by the node; following it')
      }
      return undefined
    },
    async follow(release, signal): Promise<ReleaseFate> {
      let lastSent = Date.now()
      for (;;) {
        const [status] = (await o.rpc.getSignatureStatuses([release.signature as Signature]).send()).value
        if (status?.err) return { end: 'lost' }
        if (status?.confirmationStatus === 'finalized') return { end: 'landed' }
        if (!status) {
          // Unseen and its nonce gone: it can never land. Someone's release may have.
          if ((await o.nonceOf(o.nonceAccount)) !== release.nonce) return { end: 'lost' }
          // Unseen, nonce unchanged: dropped on the way. A durable-nonce transaction can be sent again as it is.
          if (Date.now() - lastSent >= RESEND_MS) {
            lastSent = Date.now()
            await resend(release)
          }
        }
        await abortableDelay(o.pollMs, signal)
      }
    },
  }
}
