import { getAddress, type Address, type Hash, type Log, type PublicClient } from 'viem'
import type { ChainId } from '../../src/caip2.js'
import type { Checkpoint, Watcher, WatchResult } from '../../src/chains.js'
import { QantaraError, isQantaraError } from '../../src/errors.js'
import { throwIfAborted } from '../../src/abort.js'
import type { Logger } from '../../src/log.js'
import { qantaraEscrowAbi } from './contracts/artifacts/QantaraEscrow.js'
import { decodeEscrowLogs, WATCHED_EVENTS } from './events.js'
import { isRangeRefusal, nextRange } from './logRange.js'
import type { RpcPool } from './rpcPool.js'

export interface EvmWatcherOptions {
  chain: ChainId
  pool: RpcPool
  escrow: Address
  startBlock: bigint
  confirmations: number
  logRange: number
  logger: Logger
}

/**
 * Reads escrow events block range by block range, releasing only blocks with
 * `confirmations` blocks on top. Before each step it checks that the block it
 * last released is still canonical: if not, a reorg went deeper than the
 * finality rule and it stops with REORG_BEYOND_FINALITY rather than guess.
 */
export class EvmWatcher implements Watcher {
  readonly chain: ChainId
  private range: number
  private readonly escrow: Address

  constructor(private readonly o: EvmWatcherOptions) {
    this.chain = o.chain
    this.range = o.logRange
    this.escrow = getAddress(o.escrow)
  }

  /**
   * One poll reads one node: its head, its logs and its block hashes. Calls
   * spread over several nodes could take the head from one and the logs from
   * another that is behind, which answers for the blocks it has and would
   * leave the rest unread for good. A node that fails moves the whole poll to
   * the next; a released block that changed on every node halts the watcher.
   */
  async poll(from: Checkpoint | undefined, signal?: AbortSignal): Promise<WatchResult> {
    throwIfAborted(signal)
    try {
      return await this.o.pool.run((c) => this.pollOn(c, from, signal), 'poll')
    } catch (err) {
      const cause = isQantaraError(err, 'RPC_UNAVAILABLE') ? err.cause : undefined
      if (isQantaraError(cause, 'REORG_BEYOND_FINALITY')) throw cause
      throw err
    }
  }

  private async pollOn(
    c: PublicClient,
    from: Checkpoint | undefined,
    signal?: AbortSignal,
  ): Promise<WatchResult> {
    const head = await c.getBlockNumber({ cacheTime: 0 })
    const released = head - BigInt(this.o.confirmations)
    const checkpoint = from ?? { height: this.o.startBlock - 1n, hash: '' }
    if (from && from.hash !== '' && from.height <= head) await this.requireCanonical(c, from)
    const start = checkpoint.height + 1n
    if (start > released)
      return { events: [], checkpoint, head, lag: head > checkpoint.height ? head - checkpoint.height : 0n }

    for (;;) {
      throwIfAborted(signal)
      const to = minBig(released, start + BigInt(this.range) - 1n)
      try {
        const logs = await (async () => {
          try {
            return await c.getLogs({
              address: this.escrow,
              events: qantaraEscrowAbi.filter(
                (i) => i.type === 'event' && (WATCHED_EVENTS as readonly string[]).includes(i.name),
              ),
              fromBlock: start,
              toBlock: to,
              strict: true,
            })
          } catch (err) {
            if (isRangeRefusal(err))
              throw new QantaraError('RPC_RANGE_REFUSED', `getLogs refused ${start}..${to}`, {
                cause: err,
                retryable: true,
              })
            throw err
          }
        })()
        const tip = await this.blockHash(c, to)
        await this.requireLogsCanonical(c, logs, to, tip)
        const events = decodeEscrowLogs(this.chain, this.escrow, logs)
        this.range = nextRange(this.range, this.o.logRange, 'ok')
        return { events, checkpoint: { height: to, hash: tip }, head, lag: head - to }
      } catch (err) {
        if (!(err instanceof QantaraError && err.code === 'RPC_RANGE_REFUSED') || this.range === 1) throw err
        this.range = nextRange(this.range, this.o.logRange, 'refused')
        this.o.logger.warn(
          { chain: this.chain, range: this.range },
          'rpc refused the log range; shrinking it',
        )
      }
    }
  }

  private async blockHash(c: PublicClient, height: bigint): Promise<Hash> {
    const block = await c.getBlock({ blockNumber: height })
    if (!block.hash)
      throw new QantaraError('RPC_BAD_RESPONSE', `block ${height} has no hash`, { retryable: true })
    return block.hash
  }

  private async requireCanonical(c: PublicClient, cp: Checkpoint): Promise<void> {
    const hash = await this.blockHash(c, cp.height)
    if (hash !== cp.hash) {
      throw new QantaraError(
        'REORG_BEYOND_FINALITY',
        `block ${cp.height} changed from ${cp.hash} to ${hash} after its events were released`,
        {
          metaMessages: [
            'A reorg went deeper than the configured confirmations. Raise `confirmations` and investigate before restarting.',
          ],
        },
      )
    }
  }

  /** Each log must sit in the block that is canonical at its height now; a node mid-reorg must not feed us a dying fork. */
  private async requireLogsCanonical(c: PublicClient, logs: Log[], to: bigint, tip: Hash): Promise<void> {
    const byHeight = new Map<bigint, string>([[to, tip]])
    for (const log of logs) {
      if (log.blockNumber === null) continue
      let canonical = byHeight.get(log.blockNumber)
      if (canonical === undefined) {
        canonical = await this.blockHash(c, log.blockNumber)
        byHeight.set(log.blockNumber, canonical)
      }
      if (log.blockHash !== canonical) {
        throw new QantaraError(
          'RPC_BAD_RESPONSE',
          `log in block ${log.blockNumber} has hash ${log.blockHash}, canonical is ${canonical}`,
          { retryable: true },
        )
      }
    }
  }
}

const minBig = (a: bigint, b: bigint) => (a < b ? a : b)
