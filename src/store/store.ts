import type { ChainId } from '../caip2.js'
import type { ChainEvent, Checkpoint } from '../chains.js'

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

  getSubmission(chain: ChainId, key: string): Promise<Submission | undefined>
  /** Inserts or replaces the submission with this chain and key. */
  putSubmission(submission: Submission): Promise<void>
  /** Submissions of `signer` on `chain` still waiting for the chain. */
  pendingSubmissions(chain: ChainId, signer: string): Promise<Submission[]>

  /** True when a write to the store succeeds (for /healthz). */
  isWritable(): Promise<boolean>
  close(): Promise<void>
}
