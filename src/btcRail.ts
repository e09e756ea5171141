import type { ChainId } from './caip2.js'
import type { Watcher } from './chains.js'
import type { Hex32 } from './order.js'

/** The Bitcoin side of BTC payouts: how a relayer sees, proves and checks them from its own Bitcoin source. */

/**
 * An SPV proof of a Bitcoin transaction, as the Bitcoin adapter builds it and
 * an escrow chain's adapter posts it: hashes in internal byte order, the
 * transaction and coinbase witness-stripped, branches leaf level first.
 */
export interface BtcPayoutProof {
  tx: Uint8Array
  txIndex: number
  merkle: Uint8Array[]
  headers: Uint8Array[]
  coinbase: Uint8Array
  coinbaseMerkle: Uint8Array[]
}

/** A Bitcoin payout as a relayer's own source proves it: its outputs, its 32-byte tags and its block's time. */
export interface CheckedBtcPayout {
  txid: string
  blockHash: string
  height: number
  /** The block header's time, unix seconds. */
  blockTime: bigint
  /** Every `OP_RETURN <32 bytes>` output's bytes, in output order. */
  tags: Hex32[]
  /** Every output: its script, hex, and value. */
  outputs: { script: string; sats: bigint }[]
}

/** Where BTC payouts are seen and proved: a watcher that releases tagged payments at `confirmations`, and a proof builder. */
export interface BtcPayoutRail {
  readonly chain: ChainId
  readonly watcher: Watcher
  readonly confirmations: number
  readonly pollIntervalMs: number
  buildProof(txid: string, blockHash: string, signal?: AbortSignal): Promise<BtcPayoutProof>
  /** The payout proved from this relayer's own source, `confirmations` deep: what a vault's co-signer checks. */
  checkPayout(txid: string, blockHash: string, signal?: AbortSignal): Promise<CheckedBtcPayout>
  /**
   * The headers that move a light relay out of `epoch`: the epoch's last
   * `proofLength`, then the next one's first `proofLength`, checked; undefined
   * until the last of them is `confirmations` deep.
   */
  retargetHeaders(epoch: bigint, proofLength: number, signal?: AbortSignal): Promise<Uint8Array[] | undefined>
}
