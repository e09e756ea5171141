import type { Transaction } from 'bitcoinjs-lib'
import type { ChainId } from '../../src/caip2.js'
import type { ChainEvent, Checkpoint, Watcher, WatchResult } from '../../src/chains.js'
import { throwIfAborted } from '../../src/abort.js'
import { QantaraError } from '../../src/errors.js'
import type { Hex32 } from '../../src/order.js'
import type { BitcoinChainSource } from './source.js'

export interface BtcPayoutWatcherOptions {
  chain: ChainId
  source: BitcoinChainSource
  /** A block is released once it has this many confirmations, itself included. */
  confirmations: number
  /** First height to scan without a checkpoint. */
  startHeight: number
  /** Whether a tag is an order this relayer waits on a payout for; other tagged transactions are not kept. */
  isWatched(orderId: Hex32): Promise<boolean>
  maxBlocksPerPoll?: number
}

/** Outputs reported per payout: a payout is one or two outputs, and an event must stay small. */
const MAX_OUTPUTS = 32

/**
 * Releases Bitcoin transactions tagged `OP_RETURN <32-byte order id>` once
 * their block is `confirmations` deep. Nothing shallower is released, so a
 * payout reorged out before then is never seen; a released block that later
 * changes stops the watcher (REORG_BEYOND_FINALITY). The coinbase is skipped
 * (its witness commitment is an OP_RETURN too). Blocks are scanned, not the
 * mempool, so a payout replaced by fee bumping is seen under the txid that
 * was mined.
 */
export class BtcPayoutWatcher implements Watcher {
  readonly chain: ChainId

  constructor(private readonly o: BtcPayoutWatcherOptions) {
    this.chain = o.chain
  }

  async poll(from: Checkpoint | undefined, signal?: AbortSignal): Promise<WatchResult> {
    const { source } = this.o
    const head = BigInt(await source.getBlockCount())
    if (from) {
      const hash = await source.getBlockHash(Number(from.height))
      if (hash !== from.hash)
        throw new QantaraError(
          'REORG_BEYOND_FINALITY',
          `bitcoin block ${from.height} changed from ${from.hash} to ${hash} after its payouts were released`,
        )
    }
    const released = head - BigInt(this.o.confirmations) + 1n
    const start = from ? from.height + 1n : BigInt(this.o.startHeight)
    const end =
      released < start + BigInt(this.o.maxBlocksPerPoll ?? 50) - 1n
        ? released
        : start + BigInt(this.o.maxBlocksPerPoll ?? 50) - 1n
    if (end < start) {
      const checkpoint = from ?? {
        height: start - 1n,
        hash: start > 0n ? await source.getBlockHash(Number(start - 1n)) : '',
      }
      return { events: [], checkpoint, head, lag: head - checkpoint.height }
    }
    const events: ChainEvent[] = []
    let previous = from?.hash
    let hash = ''
    for (let h = start; h <= end; h++) {
      throwIfAborted(signal)
      hash = await source.getBlockHash(Number(h))
      const block = await source.getBlockTxs(hash)
      // The chain moved while this range was read: read it again from the checkpoint.
      if (previous && block.previousblockhash !== previous)
        throw new QantaraError('RPC_BAD_RESPONSE', `bitcoin block ${h} does not extend ${previous}`, {
          retryable: true,
        })
      previous = hash
      for (const tx of block.txs.slice(1)) events.push(...(await this.payouts(tx, { height: h, hash })))
    }
    return { events, checkpoint: { height: end, hash }, head, lag: head - end }
  }

  private async payouts(tx: Transaction, block: { height: bigint; hash: string }): Promise<ChainEvent[]> {
    const tags = tx.outs
      .filter((o) => o.script.length === 34 && o.script[0] === 0x6a && o.script[1] === 0x20)
      .map((o): Hex32 => `0x${Buffer.from(o.script.slice(2)).toString('hex')}`)
    if (tags.length === 0) return []
    const outputs = tx.outs
      .filter((o) => o.script[0] !== 0x6a)
      .slice(0, MAX_OUTPUTS)
      .map((o) => ({ script: Buffer.from(o.script).toString('hex'), sats: o.value }))
    const txid = tx.getId()
    const events: ChainEvent[] = []
    // `tags` keeps repeats: a transaction tagging one order twice is no payout of it alone either.
    for (const orderId of new Set(tags)) {
      if (!(await this.o.isWatched(orderId))) continue
      events.push({
        kind: 'BtcPayoutSeen',
        chain: this.chain,
        key: `BtcPayoutSeen:${txid}:${orderId}`,
        block,
        txHash: txid,
        orderId,
        outputs,
        tags,
      })
    }
    return events
  }
}
