/**
 * What the agent has answered, one heartbeat per (relayer, order, slot). A
 * relayer that asks again for the same slot — a retry after a lost answer —
 * gets the same signed bytes back while they are kept (`bodyTtlMs`), and a
 * refusal after that, never a second heartbeat: a byzantine relayer holding
 * two different valid heartbeats for one witness could serve one to each peer
 * and split their settlements. Keys outlive bodies (`keyTtlMs`, the longest
 * slot) because they are small, and bodies are dropped as soon as their time
 * is up, so memory is `maxEntries` keys and at most `bodyTtlMs` of bodies.
 * Past `maxEntries` the oldest key goes first: the heartbeat it guarded is the
 * oldest one, whose slot has most likely ended (a heartbeat is worth anything
 * only while its challenge's slot lasts).
 */
export class AnswerBook {
  /** Key → when it is forgotten; in insertion order, which is time order (see `put`). */
  private readonly keys = new Map<string, number>()
  /** Key → the answer's bytes while they are kept; a subset of `keys`, in the same order. */
  private readonly bodies = new Map<string, { body: string; until: number }>()

  constructor(private readonly o: { bodyTtlMs: number; keyTtlMs: number; maxEntries: number }) {}

  static key(relayerKey: string, orderId: string, slot: number): string {
    return `${relayerKey}:${orderId}:${slot}`
  }

  get size(): { keys: number; bodies: number } {
    return { keys: this.keys.size, bodies: this.bodies.size }
  }

  /** The earlier answer: its bytes, `answered` once they are gone, undefined for a question not asked before. */
  get(key: string, nowMs = Date.now()): { body: string } | 'answered' | undefined {
    const until = this.keys.get(key)
    if (until === undefined || until <= nowMs) return undefined
    const kept = this.bodies.get(key)
    return kept && kept.until > nowMs ? { body: kept.body } : 'answered'
  }

  put(key: string, body: string, nowMs = Date.now()): void {
    this.prune(nowMs)
    // Map.set on a key already there (an expired one answered again) keeps its old place: delete first, so
    // the newest entry is always last and the ones pruned from the front really are the oldest.
    this.keys.delete(key)
    this.bodies.delete(key)
    this.keys.set(key, nowMs + this.o.keyTtlMs)
    this.bodies.set(key, { body, until: nowMs + this.o.bodyTtlMs })
  }

  /** Drops expired keys and bodies from the front, and the oldest keys while at the cap. */
  private prune(nowMs: number): void {
    for (const [k, until] of this.keys) {
      if (until > nowMs && this.keys.size < this.o.maxEntries) break
      this.keys.delete(k)
      this.bodies.delete(k)
    }
    for (const [k, kept] of this.bodies) {
      if (kept.until > nowMs) break
      this.bodies.delete(k)
    }
  }
}
