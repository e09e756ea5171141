import type { ChainId } from '../caip2.js'
import type { ChainEvent, Checkpoint } from '../chains.js'
import type { RelayerSet } from '../relayerSet.js'
import type { OrderTerms } from '../order.js'
import type { OrderPatch, OrderRecord, OrderState } from '../orders/record.js'
import type { GpuSeen } from '../gpu/telemetryMatch.js'
import type { ComputeVerdict } from '../gpu/transcript.js'

export interface StoredEvent {
  /** Position in the store's single event log, increasing. */
  seq: number
  event: ChainEvent
}

export type SubmissionState = 'pending' | 'confirmed' | 'already-settled' | 'failed'

/** One on-chain write the relayer owes, recorded before it is broadcast. */
export interface Submission {
  chain: ChainId
  /** What the write is for, unique per chain (e.g. `settle:<orderId>`). */
  key: string
  signer: string
  nonce: number
  state: SubmissionState
  /** Adapter-defined details (signed transactions, fees); opaque to the core. */
  payload: unknown
  updatedAt: number
}

export interface StoredHeartbeat {
  orderId: string
  slot: number
  relayerId: string
  /** The signed heartbeat exactly as verified (canonical JSON). */
  body: string
  receivedAt: number
  /** Set when listed: this relayer holds a compute challenge transcript for it (served to peers on request). */
  hasTranscript?: boolean
  /** Set when listed: the record's compute verdict, null when it answers no compute challenge. */
  compute?: ComputeVerdict | null
}

/** A compute challenge's transcript for one kept heartbeat, and the verdict it gives. */
export interface StoredTranscript {
  orderId: string
  slot: number
  relayerId: string
  /** `${challengeSignature}:${root}` of the heartbeat it answers: it attaches to any kept heartbeat with that challenge and commitment. */
  challengeKey: string
  /** `Transcript` JSON. */
  transcript: string
  verdict: 'passed' | 'failed'
}

export interface HeartbeatKey {
  orderId: string
  slot: number
  relayerId: string
  /** `merkleLeafHash` of the body, hex. */
  leafHash: string
  /** The GPUs its telemetry lists, or null. */
  gpus: GpuSeen[] | null
  /** For a heartbeat answering a compute challenge, how the challenge went; null for one without. */
  compute: ComputeVerdict | null
}

export interface StoredSignature {
  orderId: string
  relayerId: string
  /** sha256 of the canonical settlement the signature is over. */
  settlementHash: string
  signer: string
  signature: string
  receivedAt: number
}

/** Slots `from` to `from + count - 1`. */
export interface SlotRange {
  from: number
  count: number
}

/** A range's bounds as `[from, to)`, the whole order when none is given. */
export function slotBounds(slots: SlotRange | undefined): [number, number] {
  // PostgreSQL keeps slots as 32-bit integers; an order has at most ORDER_LIMITS.maxSlots.
  return slots ? [slots.from, slots.from + slots.count] : [0, 2 ** 31 - 1]
}

/** What a listing of orders may be narrowed to; each field set must match. */
export interface OrderFilter {
  chain?: string
  /** The renter's address as its chain writes it; 0x-hex addresses match in any case. */
  renter?: string
  providerId?: string
  state?: OrderState
}

/**
 * The form an address is kept and looked up in: 0x-hex (EVM) in lower case,
 * since a chain's log and a user's checksummed text differ only in case;
 * base58 and bech32 as written, since case is part of them.
 */
export function addressKey(address: string): string {
  return /^0x[0-9a-fA-F]+$/.test(address) ? address.toLowerCase() : address
}

/** When the tick next looks at an order, as of the state it left the order in. */
export interface OrderDue {
  id: string
  state: OrderState
  dueMs: number | null
}

/**
 * Everything the relayer persists. Async so that a PostgreSQL store shared by
 * relayer workers can implement the same interface as the SQLite one.
 */
export interface Store {
  getCheckpoint(chain: ChainId): Promise<Checkpoint | undefined>
  /**
   * Records `events` and moves the chain's checkpoint in one transaction: a
   * crash leaves either both or neither. Events already stored (same chain and
   * key) are skipped. Returns how many were new.
   */
  commitEvents(chain: ChainId, events: ChainEvent[], checkpoint: Checkpoint): Promise<number>
  listEvents(options: { chain?: ChainId; afterSeq?: number; limit?: number }): Promise<StoredEvent[]>
  /** The committed events of one order on one chain, oldest first. */
  listOrderEvents(chain: ChainId, orderId: string): Promise<ChainEvent[]>

  getSubmission(chain: ChainId, key: string): Promise<Submission | undefined>
  /** Inserts or replaces the submission with this chain and key. */
  putSubmission(submission: Submission): Promise<void>
  /** How many submissions wait for their chain, per chain (chains with none left out). */
  countPendingSubmissions(): Promise<Record<string, number>>
  /** Submissions of `signer` on `chain` still waiting for the chain. */
  pendingSubmissions(chain: ChainId, signer: string): Promise<Submission[]>

  /** Records a newly opened order; false when it was already known. */
  insertOrder(terms: OrderTerms, now: number): Promise<boolean>
  getOrder(id: string): Promise<OrderRecord | undefined>
  listOrders(states?: readonly OrderState[]): Promise<OrderRecord[]>
  /** How many orders are in each state (states with none left out): one grouped count, no rows read. */
  countOrdersByState(): Promise<Partial<Record<OrderState, number>>>
  /**
   * Live orders whose next look (see `nextLook`) is due by `nowMs`, the longest
   * due first, at most `limit`: the tick reads these, not every live order.
   * A new order, and one any transition moved, is due at once.
   */
  listDueOrders(nowMs: number, limit: number): Promise<OrderRecord[]>
  /**
   * Retention: drops the heartbeat bodies and transcripts of at most `limit`
   * orders that reached a final state before `beforeMs`, keeping each
   * heartbeat's slot, witness, leaf hash, GPUs and verdict, which is what
   * proves (recomputes) the settlement's heartbeat root. Returns how many
   * orders it compacted; each is compacted once.
   */
  compactFinished(beforeMs: number, limit: number, nowMs: number): Promise<number>
  /** Makes every live order due at once (a relayer starting: what it armed for the slots running now was in memory). */
  makeLiveOrdersDue(): Promise<void>
  /**
   * Sets when orders are next due, in one write: each only if it is still in
   * its `state` (a transition since then made it due already) and that state
   * is live.
   */
  setOrderDues(dues: readonly OrderDue[]): Promise<void>
  /** At most `limit` orders with ids above `afterId` that match `filter`, by id: a page of a listing. */
  listOrdersPage(afterId: string | undefined, limit: number, filter?: OrderFilter): Promise<OrderRecord[]>
  /**
   * Moves an order to `to` only if it is in one of `from` (compare-and-set),
   * applying `patch`; returns whether it moved. A repeated transition is a no-op.
   */
  transitionOrder(
    id: string,
    from: readonly OrderState[],
    to: OrderState,
    patch: OrderPatch,
    now: number,
  ): Promise<boolean>

  /**
   * Keeps a verified heartbeat. One is kept per order, slot and relayer: the
   * one with the lowest Merkle leaf hash, so relayers offered different valid
   * heartbeats for the same witness (an equivocating peer) end with the same
   * one. Heartbeats are kept as if written one after another, in one
   * transaction; returns, for each, whether it is now kept (new, or
   * replacing a higher one).
   */
  putHeartbeats(hs: readonly StoredHeartbeat[]): Promise<boolean[]>
  /** Keeps a transcript whose verdict ranks above the held one (unanswered < passed < failed); false otherwise. */
  putTranscript(t: StoredTranscript): Promise<boolean>
  getTranscript(orderId: string, slot: number, relayerId: string): Promise<string | undefined>
  /** An order's kept heartbeats by slot and relayer, those of `slots` only when given. */
  listHeartbeats(orderId: string, slots?: SlotRange): Promise<StoredHeartbeat[]>
  /** What settlement and gossip need of an order's heartbeats, without their bodies (which can be kilobytes each). */
  listHeartbeatKeys(orderId: string): Promise<HeartbeatKey[]>
  countHeartbeats(orderId: string): Promise<number>
  /**
   * Heartbeats of an order in the order they were kept, after `afterSeq`: a
   * cursor that stays valid however slots arrive, since a kept heartbeat is
   * never removed, and one replaced by a lower-hash one moves to the end.
   */
  listHeartbeatsAfter(
    orderId: string,
    afterSeq: number,
    limit: number,
  ): Promise<(StoredHeartbeat & { seq: number })[]>

  /**
   * Every order's kept heartbeats in one sequence, after `afterSeq`: the
   * gossip feed a peer follows with one cursor across all orders. The same
   * guarantee as `listHeartbeatsAfter`: a heartbeat kept (or replaced, or
   * given a transcript) after a read comes after that read's last seq.
   */
  listHeartbeatFeed(afterSeq: number, limit: number): Promise<(StoredHeartbeat & { seq: number })[]>

  getProvider(providerId: string): Promise<{ seq: number; body: string } | undefined>
  /** Stores a provider record if its seq is newer than the stored one; returns whether it did. */
  putProvider(providerId: string, seq: number, body: string, now: number): Promise<boolean>
  listProviders(): Promise<{ providerId: string; seq: number; body: string }[]>
  /** Drops a provider record (one that expired). */
  deleteProvider(providerId: string): Promise<void>

  /**
   * Keeps a relayer's signature over an order's settlement, one per relayer:
   * a signature over a different settlement replaces it (a relayer recomputes
   * while the quorum has not converged); the same one again is a no-op.
   */
  putSignature(s: StoredSignature): Promise<boolean>
  /** Drops a relayer's signature over an order's settlement (one the chain refused). */
  deleteSignature(orderId: string, relayerId: string): Promise<void>
  listSignatures(orderId: string): Promise<StoredSignature[]>

  /** Keeps a chain's relayer set if its version is newer than the stored one; returns whether it did. */
  putRelayerSet(chain: string, set: RelayerSet): Promise<boolean>
  getRelayerSet(chain: string): Promise<RelayerSet | undefined>

  getCursor(name: string): Promise<number>
  setCursor(name: string, seq: number): Promise<void>

  /** True when a write to the store succeeds (for /healthz). */
  isWritable(): Promise<boolean>
  close(): Promise<void>
}
