import type { ChainId } from '../caip2.js'
import type { QantaraError } from '../errors.js'
import type { Hex32, OrderTerms } from '../order.js'
import type { Settlement } from '../settlement.js'
import type { Store } from '../store/store.js'
import type { CosignerPanel } from './cosigners.js'
import type { ReleaseLeg } from './releaseLeg.js'
import type { Refuse } from './refusals.js'

/**
 * What a vault chain provides the release engine (`release.ts`): how a round
 * is pinned (a durable nonce, an account sequence), how a release's bytes are
 * built, signed and checked, and how it is sent and followed.
 */

/** Where a sent release ended: on chain, never to land (its round taken or expired), or run and failed on chain (its fee spent). */
export type ReleaseFate = { end: 'landed' } | { end: 'lost' } | { end: 'failed'; code: number; log: string }

/** One round of a release: the vault's multisig as it signs now, and what pins the release to this round. */
export interface ReleaseRound {
  readonly threshold: number
  /** The multisig's signer addresses, in the chain's canonical form. */
  readonly signers: readonly string[]
  /** The round as failures name it ('at sequence 7'), where the chain has one to name. */
  readonly pinned?: string
}

/** A release built for a round, before anyone signed it. */
export interface ReleaseDraft {
  /** What a co-signer is sent (base64): the message itself, or a request it rebuilds the message from. */
  readonly request: string
}

/** Reads the vault: whether a release may start, and in which round. */
export interface ReleaseVault<Round extends ReleaseRound> {
  /** The round a new release of the leg is built for, read from the chain now; 'released' where this relayer can tell the leg was paid already. */
  openRound(order: OrderTerms, leg: ReleaseLeg, signal?: AbortSignal): Promise<Round | 'released'>
  /** Whether the chain itself marks the leg released (Solana: its frozen receipt); absent where only the store can tell. */
  releasedOnChain?(orderId: Hex32, leg: ReleaseLeg): Promise<boolean>
}

/** Builds, signs and checks a family's release messages, on the submitter and on its co-signers alike. */
export interface ReleaseMessages<Round extends ReleaseRound, Draft extends ReleaseDraft, Payload> {
  /** The release of this settlement's `leg` in `round`, for `signers` (this relayer first) where the message names them. */
  draft(
    order: OrderTerms,
    settlement: Settlement,
    round: Round,
    signers: readonly string[],
    leg: ReleaseLeg,
  ): Promise<Draft>
  /** Whether `signature` is `signer`'s over the draft. */
  verify(draft: Draft, signer: string, signature: string): boolean
  /** This relayer's own signature over the draft, in the form co-signers answer with. */
  sign(draft: Draft): Promise<string>
  /** The signed transaction from every signer's signature, as it is stored and broadcast. */
  assemble(draft: Draft, signatures: ReadonlyMap<string, string>): Payload
  /** The co-signer's side: the release of `leg` that `request` stands for, rebuilt from this relayer's own settlement; refuses anything else. */
  rebuild(
    order: OrderTerms,
    settlement: Settlement,
    request: string,
    refuse: Refuse,
    leg: ReleaseLeg,
  ): Promise<Draft>
}

/** Sends a stored release and follows it. */
export interface ReleaseSender<Payload> {
  txHash(payload: Payload): string
  /** The chain nonce the release takes, as the store records it (0 where none is recorded). */
  nonceOf(payload: Payload): number
  /**
   * Broadcasts the stored bytes. `fresh` the first time, where the node's refusal (code and log) means the release
   * can never land and is returned; otherwise a resend, whose answer means nothing.
   */
  broadcast(
    orderId: Hex32,
    payload: Payload,
    fresh: boolean,
  ): Promise<{ code: number; log: string } | undefined>
  /** Follows a sent release, sending it again while it may still land, until it has landed or never can. */
  follow(payload: Payload, signal?: AbortSignal): Promise<ReleaseFate>
}

/**
 * What becomes of a release that can never land (its nonce or sequence taken, its lifetime over):
 * - `retry`: the call fails with `error`, and the relayer's next try builds the next one (Solana: on the nonce's new value);
 * - `rebuild`: another is built at once (Cosmos: at the vault's next sequence), at most `rounds` in a call, the last of
 *   them left pending for the next call to follow.
 */
export type LostPolicy<Payload> =
  | { then: 'retry'; error(orderId: Hex32, payload: Payload): QantaraError }
  | {
      then: 'rebuild'
      rounds: number
      rebuilding(orderId: Hex32, payload: Payload): void
      exhausted(orderId: Hex32): QantaraError
    }

/** A vault chain's part in the release protocol: what it is, and the hooks the engine calls. */
export interface VaultReleaseFamily<Round extends ReleaseRound, Draft extends ReleaseDraft, Payload> {
  readonly chain: ChainId
  /** This relayer's address on the chain: what it signs as, and files its releases under. */
  readonly self: string
  readonly store: Pick<Store, 'getSubmission' | 'putSubmission' | 'listOrderEvents' | 'getOrder'>
  readonly cosigners: CosignerPanel
  /** Whether a release names its signers (Solana), so a set where one fails is replaced as a whole; otherwise any threshold of signatures over one message completes it (Cosmos). */
  readonly signersInMessage: boolean
  /** Whether an order `openRound` finds released is stored `already-settled` (Cosmos, whose check waits on its watcher) or read again next time (Solana). */
  readonly remembersRelease: boolean
  readonly onLost: LostPolicy<Payload>
  readonly vault: ReleaseVault<Round>
  readonly messages: ReleaseMessages<Round, Draft, Payload>
  readonly sender: ReleaseSender<Payload>
}
