import type { ChainId } from './caip2.js'
import type { OrderTerms, Hex32 } from './order.js'
import type { Settlement } from './settlement.js'
import type { BtcPayoutProof } from './btcRail.js'
import type { ReleaseLeg } from './vault/releaseLeg.js'

/** A position in a chain: the last block whose events have been released. */
export interface Checkpoint {
  height: bigint
  hash: string
}

export interface BlockRef {
  height: bigint
  hash: string
}

/** Normalised, finalised facts read from a chain. `key` is unique per chain. */
export type ChainEvent =
  | { kind: 'OrderOpened'; chain: ChainId; key: string; block: BlockRef; txHash: string; order: OrderTerms }
  | {
      kind: 'OrderSettled'
      chain: ChainId
      key: string
      block: BlockRef
      txHash: string
      orderId: Hex32
      settlement: Settlement
    }
  | {
      kind: 'OrderReclaimed'
      chain: ChainId
      key: string
      block: BlockRef
      txHash: string
      orderId: Hex32
      amount: bigint
    }
  | {
      kind: 'RelayerSetUpdated'
      chain: ChainId
      key: string
      block: BlockRef
      txHash: string
      version: bigint
      members: string[]
      threshold: number
    }
  | {
      kind: 'BtcPayoutProved'
      chain: ChainId
      key: string
      block: BlockRef
      txHash: string
      orderId: Hex32
      btcTxid: string
      sats: bigint
    }
  | {
      kind: 'BtcPayoutFallback'
      chain: ChainId
      key: string
      block: BlockRef
      txHash: string
      orderId: Hex32
    }
  /** A confirmed Bitcoin transaction tagged `OP_RETURN <orderId>`, with what it paid to which scripts. */
  | {
      kind: 'BtcPayoutSeen'
      chain: ChainId
      key: string
      block: BlockRef
      txHash: string
      orderId: Hex32
      outputs: { script: string; sats: bigint }[]
      /** Every tag the transaction carries, repeats included (absent in events stored before they were recorded). */
      tags?: Hex32[]
    }
  /** A vault's release of an order: what each wallet received. */
  | {
      kind: 'VaultReleased'
      chain: ChainId
      key: string
      block: BlockRef
      txHash: string
      orderId: Hex32
      payments: { owner: string; amount: bigint }[]
    }
  /** A vault's release of a BTC-owed provider share: to the solver against `btcTxid`, or (none) to the provider. */
  | {
      kind: 'VaultBtcShareReleased'
      chain: ChainId
      key: string
      block: BlockRef
      txHash: string
      orderId: Hex32
      btcTxid?: string
      payments: { owner: string; amount: bigint }[]
    }
  /** A payment into a vault (a chain without an escrow contract) that opened no order, and why; kept for the quorum to refund. */
  | {
      kind: 'VaultDepositIgnored'
      chain: ChainId
      key: string
      block: BlockRef
      txHash: string
      reason: string
      sender?: string
      token: string
      amount: bigint
    }

export type ChainEventKind = ChainEvent['kind']

export interface WatchResult {
  events: ChainEvent[]
  checkpoint: Checkpoint
  /** The chain's head when this poll ran, and how far the checkpoint is behind it. */
  head: bigint
  lag: bigint
}

/** Yields finalised events after a checkpoint; a shallow reorg changes nothing it released. */
export interface Watcher {
  readonly chain: ChainId
  /** One bounded step forward from `from` (or the configured start when undefined). */
  poll(from: Checkpoint | undefined, signal?: AbortSignal): Promise<WatchResult>
}

export type SubmitOutcome =
  { status: 'submitted'; txHash: string; confirmations: number } | { status: 'already-settled' }

/**
 * An escrow chain's Bitcoin light relay, which the relayers keep fed with
 * retargets. The chain takes a retarget only with a quorum of the relayer set's
 * approvals of its headers, as it takes settlements (security review #11).
 */
export interface BtcRelayFeed {
  /** The epoch the relay is in and the headers a retarget needs on each side; undefined where it never retargets (regtest). */
  state(): Promise<{ epoch: bigint; proofLength: number } | undefined>
  /** This relayer's approval of `headers` as the retarget out of `epoch`, in the chain's signature form. */
  approveRetarget(epoch: bigint, headers: Uint8Array[]): Promise<SettlementSignature>
  /** Whether `sig` is quorum member `relayerId`'s valid approval of these `headers` out of `epoch` on this chain. */
  verifyRetargetApproval(
    epoch: bigint,
    headers: Uint8Array[],
    relayerId: string,
    sig: SettlementSignature,
  ): Promise<boolean>
  /** Moves the relay out of `epoch` with a quorum's approvals; idempotent, and the relay past it already is success. */
  retarget(
    epoch: bigint,
    headers: Uint8Array[],
    approvals: SettlementSignature[],
    signal?: AbortSignal,
  ): Promise<SubmitOutcome>
}

/** `eip712`: typed data over the escrow's domain; `ed25519` / `secp256k1-sha256`: a text message, signed as is or as its sha256. */
export type SettlementStatement =
  | { scheme: 'eip712'; typedData: Record<string, unknown> }
  | { scheme: 'ed25519'; message: string }
  | { scheme: 'secp256k1-sha256'; message: string; publicKeys: Record<string, string> }

export interface SettlementSignature {
  /** The chain-native address of the signing relayer key. */
  signer: string
  signature: string
}

/**
 * One configured chain as the relayer core sees it, built by its family's
 * adapter: the core never learns which family, only what the chain can do.
 */
interface ChainRuntimeBase {
  readonly chain: ChainId
  readonly watcher: Watcher
  /** Address paid the relayer fee on this chain, if any. */
  readonly feeRecipient: string
  /** Blocks the watcher may trail the head by before /healthz says not ready. */
  readonly maxLag: bigint
  readonly pollIntervalMs: number
  /**
   * The tokens this relayer settles on the chain, each with the least order
   * amount it takes on (its settlement costs gas whatever the order is worth);
   * absent where every asset the chain can carry is served.
   */
  readonly minAmounts?: ReadonlyMap<string, bigint>
  signSettlement(order: OrderTerms, settlement: Settlement): Promise<SettlementSignature>
  /** Whether `sig` is quorum member `relayerId`'s valid signature over `settlement` on this chain. */
  verifySettlementSignature(
    order: OrderTerms,
    settlement: Settlement,
    relayerId: string,
    sig: SettlementSignature,
  ): Promise<boolean>
  /**
   * Exactly what each member's settlement signature on this chain is over,
   * and how to check it: what a receipt gives a system that checks the
   * quorum's signatures without a chain node (docs/API.md).
   */
  settlementStatement(settlement: Settlement): SettlementStatement
  /**
   * How many settlements (releases, on a vault chain) this relayer's key, or
   * the vault's fee reserve that pays them, can still pay for at the
   * configured fee caps: the number an operator is alerted on before the
   * relayer stops settling for want of gas.
   */
  funds?(): Promise<{ account: string; settlements: number }>
  /** Posts a settlement with enough signatures; idempotent. */
  submitSettlement(
    order: OrderTerms,
    settlement: Settlement,
    signatures: SettlementSignature[],
    signal?: AbortSignal,
  ): Promise<SubmitOutcome>
}

/** A chain whose escrow contract holds each order: the renter reclaims an order nobody settles. */
export interface EscrowChainRuntime extends ChainRuntimeBase {
  readonly kind: 'escrow'
  /** Present where the escrow takes orders whose provider is paid in BTC. */
  readonly btcPayouts?: BtcPayoutCapability
}

/**
 * A chain without an escrow contract: deposits sit in a vault under the
 * relayers' multisig, released by one transaction every signer signs, and a
 * deposit that opens no order is refunded by the quorum.
 */
export interface VaultChainRuntime extends ChainRuntimeBase {
  readonly kind: 'vault'
  /** Checks that `message` is exactly the release of this settlement's `leg`, rebuilt here, and signs it; refuses anything else. */
  cosignRelease(
    order: OrderTerms,
    settlement: Settlement,
    message: string,
    leg?: ReleaseLeg,
  ): Promise<SettlementSignature>
  /**
   * Present where the vault takes orders whose provider is paid in BTC: releases the provider's share kept at
   * settlement, to the solver or the provider as `leg` says, once, whoever else tries. The caller has judged
   * the leg (src/vault/btcLegCheck.ts); every co-signer judges it again from its own source.
   */
  releaseBtcShare?(
    order: OrderTerms,
    settlement: Settlement,
    leg: ReleaseLeg,
    signal?: AbortSignal,
  ): Promise<SubmitOutcome>
}

export type ChainRuntime = EscrowChainRuntime | VaultChainRuntime

/** What an escrow chain that takes BTC orders does with them. */
export interface BtcPayoutCapability {
  /** Posts the proof of a BTC payout for an order whose provider share is owed in BTC; idempotent. */
  prove(
    order: OrderTerms,
    toProvider: bigint,
    proof: BtcPayoutProof,
    signal?: AbortSignal,
  ): Promise<SubmitOutcome>
  /** After the payout deadline with no proof, pays the provider's share on this chain; idempotent. */
  claimFallback(order: OrderTerms, toProvider: bigint, signal?: AbortSignal): Promise<SubmitOutcome>
  /** The light relay payouts are proved against. */
  readonly relay: BtcRelayFeed
}

/** Asks quorum member `relayerId` to co-sign a release message of `leg` of `orderId`; its answer is checked by the caller. */
export type Cosigner = (
  relayerId: string,
  orderId: Hex32,
  message: string,
  leg: ReleaseLeg,
  signal?: AbortSignal,
) => Promise<SettlementSignature>
