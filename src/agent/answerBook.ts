/**
 * What the agent has answered, one heartbeat per (relayer, order, slot). A
 * relayer that asks again for the same slot — a retry after a lost answer —
 * gets the same signed bytes back while they are kept (`bodyTtlMs`), and a
 * refusal after that, never a second heartbeat: a byzantine relayer holding
 * two different valid heartbeats for one witness could serve one to each peer
 * and split their settlements. Keys outlive bodies (`keyTtlMs`, the longest
 * slot) because they are small; both are capped, oldest dropped first.
 */
export class AnswerBook {
  private readonly answers = new Map<string, { body?: string; bodyUntil: number; until: number }>()

  constructor(private readonly o: { bodyTtlMs: number; keyTtlMs: number; maxEntries: number }) {}

  static key(relayerKey: string, orderId: string, slot: number): string {
    return `${relayerKey}:${orderId}:${slot}`
  }

  /** The earlier answer: its bytes, `answered` once they are gone, undefined for a question not asked before. */
  get(key: string, nowMs = Date.now()): { body: string } | 'answered' | undefined {
    const a = this.answers.get(key)
    if (!a || a.until <= nowMs) return undefined
    if (a.body !== undefined && a.bodyUntil > nowMs) return { body: a.body }
    delete a.body
    return 'answered'
  }

  put(key: string, body: string, nowMs = Date.now()): void {
    // Entries are added in time order, so the oldest come first: expired ones go, and past the cap the oldest.
    for (const [k, a] of this.answers) {
      if (a.until > nowMs && this.answers.size < this.o.maxEntries) break
      this.answers.delete(k)
    }
    this.answers.set(key, { body, bodyUntil: nowMs + this.o.bodyTtlMs, until: nowMs + this.o.keyTtlMs })
  }
}
