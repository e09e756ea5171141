import { fromBase64 } from '@cosmjs/encoding'
import { BroadcastTxError } from '@cosmjs/stargate'
import { abortableDelay } from '../../src/abort.js'
import type { Logger } from '../../src/log.js'
import type { ReleaseFate, ReleaseSender } from '../../src/vault/releaseFamily.js'
import type { CosmosVaultAccount } from './vaultAccount.js'

/** How long a sent release may stay unseen before it is broadcast again. */
const RESEND_MS = 6_000
/** CheckTx code of x/auth's "account sequence mismatch". */
const WRONG_SEQUENCE = 32

/** A signed release as stored before it is broadcast: after a crash the same bytes go out again. */
export interface CosmosStoredRelease {
  tx: string
  hash: string
  sequence: number
  timeoutHeight: string
}

/**
 * Broadcasts releases and follows them. A release can only land at the
 * vault's sequence it was signed for, and only up to its timeout height.
 */
export function cosmosReleaseSender(o: {
  vault: CosmosVaultAccount
  log: Logger
  pollMs: number
}): ReleaseSender<CosmosStoredRelease> {
  /** Broadcasts a stored release; the chain's refusal at CheckTx, if any. */
  async function broadcast(release: CosmosStoredRelease): Promise<{ code: number; log: string } | undefined> {
    try {
      await (await o.vault.client()).broadcastTxSync(fromBase64(release.tx))
      return undefined
    } catch (err) {
      if (err instanceof BroadcastTxError) return { code: err.code, log: err.log ?? err.message }
      o.log.warn(
        { hash: release.hash, err: (err as Error).message },
        'release broadcast failed; following it',
      )
      return undefined
    }
  }

  return {
    txHash: (release) => release.hash,
    nonceOf: (release) => release.sequence,
    async broadcast(_orderId, release, fresh) {
      const refused = await broadcast(release)
      // A wrong sequence is a rival release in the mempool: it is followed until the rival takes the sequence or expires.
      return fresh && refused && refused.code !== WRONG_SEQUENCE ? refused : undefined
    },
    /** Follows a sent release until it has landed or can never land: its sequence taken by another transaction, or its timeout height passed. */
    async follow(release, signal): Promise<ReleaseFate> {
      let lastSent = Date.now()
      for (;;) {
        const found = await (await o.vault.client()).getTx(release.hash)
        if (found)
          return found.code === 0
            ? { end: 'landed' }
            : { end: 'failed', code: found.code, log: found.rawLog.slice(0, 300) }
        // The height first: a sequence read after it that has not moved means nothing landed up to that height.
        const seen = await o.vault.height()
        const { sequence } = await o.vault.account()
        if (sequence > release.sequence) {
          const taker = await o.vault.tookSequence(release.sequence)
          if (taker && taker.hash !== release.hash) return { end: 'lost' }
        } else if (BigInt(seen) > BigInt(release.timeoutHeight)) {
          return { end: 'lost' }
        } else if (Date.now() - lastSent >= RESEND_MS) {
          lastSent = Date.now()
          await broadcast(release)
        }
        await abortableDelay(o.pollMs, signal)
      }
    },
  }
}
