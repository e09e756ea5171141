import PQueue from 'p-queue'
import { BaseError, keccak256, type Address, type Hex, type LocalAccount } from 'viem'
import { abortableDelay, throwIfAborted } from '../../src/abort.js'
import type { ChainId } from '../../src/caip2.js'
import type { SubmitOutcome } from '../../src/chains.js'
import { QantaraError } from '../../src/errors.js'
import type { Logger } from '../../src/log.js'
import type { Store, Submission } from '../../src/store/store.js'
import { bumpFees, initialFees, type FeeCaps, type Fees } from './fees.js'
import type { RpcPool } from './rpcPool.js'

export interface DurableTxOptions {
  chain: ChainId
  pool: RpcPool
  account: LocalAccount
  store: Store
  receiptConfirmations: number
  bumpAfterMs: number
  caps: FeeCaps
  /** How often a pending transaction is checked. */
  pollMs?: number
  logger: Logger
}

/**
 * What a write changes, and so how to tell it landed, whoever sent it: an
 * order leaving its escrow state `before`, or a light relay leaving `relayEpoch`.
 */
export type TxTarget = { orderId: Hex; before: Hex } | { relay: Address; relayEpoch: string }

/** Whether the write's target has moved on: done, by this write or another. */
export type MovedOn = (target: TxTarget) => Promise<boolean>

interface Attempt extends Fees {
  hash: Hex
  raw: Hex
  sentAt: number
}

/** What is persisted for one transaction; written before every broadcast. */
type Payload = TxTarget & {
  data: Hex
  to: Address
  gas: bigint
  attempts: Attempt[]
  txHash?: Hex
  /** Mined and reverted: never sent again. */
  minedRevert?: boolean
}

export interface TxRequest {
  /** Unique per chain and write (e.g. `settle:<orderId>`): one write per key, ever. */
  key: string
  to: Address
  data: Hex
  target: TxTarget
  /** The gas limit to sign with; throws the write's refusal when it would revert. */
  gasLimit(): Promise<bigint>
}

/**
 * Sends each keyed write once. Every signed transaction is stored before it
 * is broadcast, so a crash at any line resumes the same nonce with the same
 * or a bumped transaction instead of a second write; a write whose target
 * moved on (another relayer's landed) is done, whoever sent it.
 */
export class DurableTx {
  /** Nonces are handed out one at a time; tracking runs concurrently. */
  private readonly nonceLock = new PQueue({ concurrency: 1 })
  private readonly log: Logger

  constructor(
    private readonly o: DurableTxOptions,
    private readonly movedOn: MovedOn,
  ) {
    this.log = o.logger.child({ module: 'evm-submitter', chain: o.chain })
  }

  get address(): Address {
    return this.o.account.address
  }

  async send(req: TxRequest, signal?: AbortSignal): Promise<SubmitOutcome> {
    const existing = await this.o.store.getSubmission(this.o.chain, req.key)
    if (existing?.state === 'confirmed')
      return {
        status: 'submitted',
        txHash: (existing.payload as Payload).txHash!,
        confirmations: this.o.receiptConfirmations,
      }
    if (existing?.state === 'already-settled') return { status: 'already-settled' }
    if (existing?.state === 'pending') return this.track(existing, signal)
    const unsigned: Payload = { ...req.target, data: req.data, to: req.to, gas: 0n, attempts: [] }
    if (await this.movedOn(req.target)) return this.record(req.key, -1, unsigned)
    // A write that was mined and reverted is never sent again: whatever made it revert (a token that burns
    // gas only when it counts) would burn our gas again on every try.
    if (existing?.state === 'failed' && (existing.payload as Payload).minedRevert)
      throw minedRevert(req.key, (existing.payload as Payload).txHash)
    let gas: bigint
    try {
      gas = await req.gasLimit()
    } catch (err) {
      if (await this.movedOn(req.target)) return this.record(req.key, -1, unsigned)
      throw err
    }
    const submission = await this.nonceLock.add(() => this.signFirst(req.key, { ...unsigned, gas }))
    await this.broadcast(submission)
    return this.track(submission, signal)
  }

  private async signFirst(key: string, payload: Payload): Promise<Submission> {
    const nonce = await this.nextNonce()
    const { baseFee, priority } = await this.networkFees()
    const attempt = await this.sign(payload, nonce, initialFees(baseFee, priority, this.o.caps))
    const submission: Submission = {
      chain: this.o.chain,
      key,
      signer: this.address,
      nonce,
      state: 'pending',
      payload: { ...payload, attempts: [attempt] },
      updatedAt: Date.now(),
    }
    await this.o.store.putSubmission(submission)
    this.log.info(
      { key, nonce, txHash: attempt.hash, maxFeePerGas: attempt.maxFeePerGas },
      'transaction signed',
    )
    return submission
  }

  /** Our next nonce: past everything mined, and past every transaction of ours still in flight. */
  private async nextNonce(): Promise<number> {
    const mined = await this.o.pool.run(
      (c) => c.getTransactionCount({ address: this.address, blockTag: 'latest' }),
      'eth_getTransactionCount',
    )
    const inFlight = await this.o.store.pendingSubmissions(this.o.chain, this.address)
    return Math.max(mined, ...inFlight.map((s) => s.nonce + 1))
  }

  private async networkFees(): Promise<{ baseFee: bigint; priority: bigint }> {
    return this.o.pool.run(async (c) => {
      const block = await c.getBlock({ blockTag: 'latest' })
      const priority = await c.estimateMaxPriorityFeePerGas().catch((err: unknown) => {
        // Nodes without eth_maxPriorityFeePerGas: 1 gwei, within the configured caps like any estimate.
        this.log.debug({ err }, 'no priority fee estimate; using 1 gwei')
        return 1_000_000_000n
      })
      return { baseFee: block.baseFeePerGas ?? 0n, priority }
    }, 'fee estimate')
  }

  private async sign(payload: Payload, nonce: number, fees: Fees): Promise<Attempt> {
    const chainId = Number(this.o.chain.split(':')[1])
    const raw = await this.o.account.signTransaction({
      type: 'eip1559',
      chainId,
      to: payload.to,
      data: payload.data,
      gas: payload.gas,
      nonce,
      value: 0n,
      ...fees,
    })
    return { hash: keccak256(raw), raw, sentAt: Date.now(), ...fees }
  }

  private async broadcast(s: Submission): Promise<void> {
    const latest = (s.payload as Payload).attempts.at(-1)!
    try {
      await this.o.pool.any(
        (c) => c.sendRawTransaction({ serializedTransaction: latest.raw }),
        'eth_sendRawTransaction',
      )
    } catch (err) {
      // "already known", "nonce too low" and underpriced replacements all mean the
      // network holds some version of this nonce: tracking finds out which.
      this.log.warn({ key: s.key, txHash: latest.hash, err }, 'broadcast refused; tracking the nonce')
    }
  }

  /** Follows a pending submission to its end: confirmed, done by someone else, or a revert. */
  private async track(s: Submission, signal?: AbortSignal): Promise<SubmitOutcome> {
    const pollMs = this.o.pollMs ?? 1_000
    await this.broadcast(s)
    for (;;) {
      throwIfAborted(signal)
      const payload = s.payload as Payload
      const found = await this.findReceipt(payload.attempts)
      if (found) {
        const head = await this.o.pool.run((c) => c.getBlockNumber({ cacheTime: 0 }), 'eth_blockNumber')
        const confirmations = Number(head - found.blockNumber + 1n)
        if (confirmations >= this.o.receiptConfirmations) return this.finish(s, found, confirmations)
      } else if (await this.nonceTakenElsewhere(s)) {
        return this.finishForeign(s)
      } else if (Date.now() - payload.attempts.at(-1)!.sentAt >= this.o.bumpAfterMs) {
        s = await this.bump(s)
      }
      await abortableDelay(pollMs, signal)
    }
  }

  private async findReceipt(
    attempts: Attempt[],
  ): Promise<{ hash: Hex; blockNumber: bigint; success: boolean } | undefined> {
    for (const a of [...attempts].reverse()) {
      const receipt = await this.o.pool.run(
        (c) => c.getTransactionReceipt({ hash: a.hash }).catch(notFound),
        'eth_getTransactionReceipt',
      )
      if (receipt)
        return { hash: a.hash, blockNumber: receipt.blockNumber, success: receipt.status === 'success' }
    }
    return undefined
  }

  private async nonceTakenElsewhere(s: Submission): Promise<boolean> {
    const mined = await this.o.pool.run(
      (c) => c.getTransactionCount({ address: this.address, blockTag: 'latest' }),
      'eth_getTransactionCount',
    )
    if (mined <= s.nonce) return false
    // Our transaction may have been mined between the receipt lookup and the
    // nonce read: only a second miss means another transaction used the nonce.
    return (await this.findReceipt((s.payload as Payload).attempts)) === undefined
  }

  private async bump(s: Submission): Promise<Submission> {
    const payload = s.payload as Payload
    const last = payload.attempts.at(-1)!
    const { baseFee, priority } = await this.networkFees()
    const fees = bumpFees(last, baseFee, priority, this.o.caps)
    if (!fees) {
      this.log.warn(
        { key: s.key, maxFeePerGas: last.maxFeePerGas, cap: this.o.caps.maxFeePerGas },
        'transaction stuck at the fee cap; rebroadcasting',
      )
      const again = {
        ...s,
        payload: {
          ...payload,
          attempts: [...payload.attempts.slice(0, -1), { ...last, sentAt: Date.now() }],
        },
        updatedAt: Date.now(),
      }
      await this.o.store.putSubmission(again)
      await this.broadcast(again)
      return again
    }
    const attempt = await this.sign(payload, s.nonce, fees)
    const next: Submission = {
      ...s,
      payload: { ...payload, attempts: [...payload.attempts, attempt] },
      updatedAt: Date.now(),
    }
    await this.o.store.putSubmission(next)
    this.log.info(
      { key: s.key, nonce: s.nonce, txHash: attempt.hash, maxFeePerGas: fees.maxFeePerGas },
      'transaction fee bumped',
    )
    await this.broadcast(next)
    return next
  }

  private async finish(
    s: Submission,
    found: { hash: Hex; success: boolean },
    confirmations: number,
  ): Promise<SubmitOutcome> {
    const payload = { ...(s.payload as Payload), txHash: found.hash }
    if (found.success) {
      await this.o.store.putSubmission({ ...s, state: 'confirmed', payload, updatedAt: Date.now() })
      this.log.info({ key: s.key, txHash: found.hash, confirmations }, 'transaction confirmed')
      return { status: 'submitted', txHash: found.hash, confirmations }
    }
    // Our transaction reverted: most often another relayer's write landed first.
    return this.finishForeign({ ...s, payload: { ...payload, minedRevert: true } })
  }

  private async finishForeign(s: Submission): Promise<SubmitOutcome> {
    const payload = s.payload as Payload
    if (await this.movedOn(payload)) {
      this.log.info({ key: s.key }, 'write already done by another submission')
      return this.record(s.key, s.nonce, payload)
    }
    await this.o.store.putSubmission({ ...s, state: 'failed', updatedAt: Date.now() })
    if (payload.minedRevert) throw minedRevert(s.key, payload.txHash)
    throw new QantaraError('SUBMIT_FAILED', `${s.key} did not land and its target has not moved on`, {
      retryable: true,
    })
  }

  private async record(key: string, nonce: number, payload: Payload): Promise<SubmitOutcome> {
    await this.o.store.putSubmission({
      chain: this.o.chain,
      key,
      signer: this.address,
      nonce,
      state: 'already-settled',
      payload,
      updatedAt: Date.now(),
    })
    return { status: 'already-settled' }
  }
}

function notFound(err: unknown): null {
  if (err instanceof BaseError && err.name === 'TransactionReceiptNotFoundError') return null
  throw err
}

function minedRevert(key: string, txHash: Hex | undefined): QantaraError {
  return new QantaraError(
    'SUBMIT_REVERTED',
    `${key} was mined and reverted (${txHash ?? 'unknown tx'}); it is not sent again`,
    { context: { revert: 'MinedRevert' } },
  )
}
