import { randomBytes } from 'node:crypto'
import type { Ed25519Signer } from '../ed25519.js'
import { challengeBytes } from './bytes.js'
import type { SignedChallenge } from './schema.js'

interface Issued {
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
  private readonly issued = new Map<string, Issued>()

  constructor(
    private readonly relayerId: string,
    private readonly identity: Ed25519Signer,
    private readonly ttlMs: number,
    private readonly maxOutstanding = 100_000,
  ) {}

  issue(orderId: string, slot: number, nowMs: number): SignedChallenge {
    this.prune(nowMs)
    const challenge = { v: 1 as const, orderId, slot, relayerId: this.relayerId, relayerKey: this.identity.publicKey, salt: `0x${randomBytes(32).toString('hex')}`, issuedAt: nowMs }
    this.issued.set(challenge.salt, { orderId, slot, used: false, expiresAt: nowMs + this.ttlMs })
    if (this.issued.size > this.maxOutstanding) this.issued.delete(this.issued.keys().next().value!)
    return { challenge, signature: this.identity.sign(challengeBytes(challenge)) }
  }

  consume(salt: string, orderId: string, slot: number): 'ok' | 'unknown' | 'replayed' {
    const entry = this.issued.get(salt)
    if (!entry || entry.orderId !== orderId || entry.slot !== slot) return 'unknown'
    if (entry.used) return 'replayed'
    entry.used = true
    return 'ok'
  }

  private prune(nowMs: number): void {
    for (const [salt, e] of this.issued) {
      if (e.expiresAt > nowMs) break
      this.issued.delete(salt)
    }
  }
}
