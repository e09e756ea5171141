import { randomBytes } from 'node:crypto'
import type { Ed25519Signer } from '../ed25519.js'
import { challengeBytes } from './bytes.js'
import type { Challenge, SignedChallenge } from './schema.js'

interface Issued {
  signature: string
  orderId: string
  slot: number
  used: boolean
  expiresAt: number
}

/**
 * The challenges this relayer has issued and not yet seen answered. Each salt
 * is fresh randomness, answerable once, and forgotten after `ttlMs` (or when
 * `maxOutstanding` is reached, oldest first), so memory stays bounded.
 */
export class ChallengeBook {
  private readonly entries = new Map<string, Issued>()

  constructor(
    private readonly relayerId: string,
    private readonly identity: Ed25519Signer,
    private readonly ttlMs: number,
    private readonly maxOutstanding = 100_000,
  ) {}

  /** A fresh challenge; with `compute`, a compute challenge of that size on a fresh seed, following that heartbeat. */
  issue(
    orderId: string,
    slot: number,
    nowMs: number,
    compute?: { n: number; count: number; follows: string },
  ): SignedChallenge {
    this.prune(nowMs)
    const challenge: Challenge = {
      v: 1 as const,
      orderId,
      slot,
      relayerId: this.relayerId,
      relayerKey: this.identity.publicKey,
      salt: `0x${randomBytes(32).toString('hex')}`,
      issuedAt: nowMs,
      ...(compute
        ? {
            compute: { seed: `0x${randomBytes(32).toString('hex')}`, ...compute },
          }
        : {}),
    }
    const signature = this.identity.sign(challengeBytes(challenge))
    this.entries.set(challenge.salt, { signature, orderId, slot, used: false, expiresAt: nowMs + this.ttlMs })
    if (this.entries.size > this.maxOutstanding) this.entries.delete(this.entries.keys().next().value!)
    return { challenge, signature }
  }

  issued(salt: string, signature: string): boolean {
    return this.entries.get(salt)?.signature === signature
  }

  consume(salt: string, orderId: string, slot: number): 'ok' | 'unknown' | 'replayed' {
    const entry = this.entries.get(salt)
    if (!entry || entry.orderId !== orderId || entry.slot !== slot) return 'unknown'
    if (entry.used) return 'replayed'
    entry.used = true
    return 'ok'
  }

  private prune(nowMs: number): void {
    for (const [salt, e] of this.entries) {
      if (e.expiresAt > nowMs) break
      this.entries.delete(salt)
    }
  }
}
