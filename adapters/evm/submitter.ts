import PQueue from 'p-queue'
import {
  BaseError, ContractFunctionRevertedError, concat, encodeFunctionData, keccak256, toHex,
  type Address, type ContractFunctionArgs, type EncodeFunctionDataParameters, type EstimateContractGasParameters, type Hex, type LocalAccount, type PublicClient,
} from 'viem'
import type { ChainId } from '../../src/caip2.js'
import type { BtcPayoutProof, SubmitOutcome } from '../../src/chains.js'
import { QantaraError } from '../../src/errors.js'
import { abortableDelay, throwIfAborted } from '../../src/abort.js'
import type { Logger } from '../../src/log.js'
import type { OrderTerms } from '../../src/order.js'
import type { Settlement } from '../../src/settlement.js'
import type { Store, Submission } from '../../src/store/store.js'
import { btcLightRelayAbi } from './contracts/artifacts/BtcLightRelay.js'
import { qantaraEscrowAbi } from './contracts/artifacts/QantaraEscrow.js'
import { openStateHash, owedStateHash, toEvmBtcPayout, toEvmBtcProof, toEvmOrder, toEvmSettlement } from './codec.js'
import { bumpFees, initialFees, type FeeCaps, type Fees } from './fees.js'
import type { RpcPool } from './rpcPool.js'

const SETTLED = toHex(1, { size: 32 })
const REFUNDED = toHex(2, { size: 32 })
const ZERO = toHex(0, { size: 32 })

export interface EvmSubmitterOptions {
  chain: ChainId
  pool: RpcPool
  escrow: Address
  account: LocalAccount
  store: Store
  receiptConfirmations: number
  bumpAfterMs: number
  caps: FeeCaps
  /** How often a pending transaction is checked. */
  pollMs?: number
  /** The most gas one settlement may use; above it the settlement is not sent. */
  maxSettlementGas?: bigint
  logger: Logger
}

interface Attempt extends Fees {
  hash: Hex
  raw: Hex
  sentAt: number
}

type EscrowWrite = 'settle' | 'settleBtc' | 'proveBtcPayout' | 'claimBtcFallback' | 'retargetRelay'
type EscrowCall = { [F in EscrowWrite]: { abi: typeof qantaraEscrowAbi; functionName: F; args: ContractFunctionArgs<typeof qantaraEscrowAbi, 'nonpayable', F> } }[EscrowWrite]

/**
 * What a write changes, and so how to tell it landed, whoever sent it: an
 * order leaving its escrow state `before`, or the relay leaving `epoch`.
 */
type Target = { orderId: Hex; before: Hex } | { relay: Address; epoch: string }

/** What is persisted for one transaction; written before every broadcast. */
interface Payload {
  data: Hex
  /** Contract called; absent (stored before relay writes existed) means the escrow. */
  to?: Address
  /** For a retarget: the relay it moves (absent in retargets stored when they were sent to the relay itself: then `to`). */
  relay?: Address
  /** The order the write is for, and its escrow state before: a state past it means the write landed, ours or not. */
  orderId?: Hex
  before?: Hex
  /** For a retarget: the relay epoch it moves the relay out of. */
  relayEpoch?: string
  gas: bigint
  attempts: Attempt[]
  txHash?: Hex
  /** Mined and reverted: never sent again. */
  minedRevert?: boolean
}

/**
 * Posts settlements to the escrow, once each. Every signed transaction is
 * stored before it is broadcast, so a crash at any point resumes the same
 * nonce with the same or a bumped transaction instead of a second payment.
 */
export class EvmSubmitter {
  readonly chain: ChainId
  /** Nonces are handed out one at a time; tracking runs concurrently. */
  private readonly nonceLock = new PQueue({ concurrency: 1 })
  private readonly log: Logger

  constructor(private readonly o: EvmSubmitterOptions) {
    this.chain = o.chain
    this.log = o.logger.child({ module: 'submitter', chain: o.chain })
  }

  get address(): Address {
    return this.o.account.address
  }

  /** Settles an order (settleBtc when its provider is paid in BTC); an order settled already is success. */
  async submit(order: OrderTerms, settlement: Settlement, auth: { signatures: Hex[] }, signal?: AbortSignal): Promise<SubmitOutcome> {
    const signatures = auth.signatures.length ? concat(auth.signatures) : '0x'
    const call: EscrowCall = order.btc
      ? { abi: qantaraEscrowAbi, functionName: 'settleBtc', args: [toEvmOrder(order), toEvmBtcPayout(order.btc), toEvmSettlement(settlement), signatures] }
      : { abi: qantaraEscrowAbi, functionName: 'settle', args: [toEvmOrder(order), toEvmSettlement(settlement), signatures] }
    try {
      return await this.send(`settle:${settlement.orderId}`, { orderId: settlement.orderId, before: openStateHash(order) }, call, signal, this.o.maxSettlementGas)
    } catch (err) {
      const refused = refusedSignature(err, auth.signatures)
      if (refused) throw new QantaraError('SIGNATURE_REFUSED', `the escrow refuses one signature of the set for ${settlement.orderId} (${revertReason(err)})`, { cause: err, retryable: true, context: { signature: refused, revert: revertReason(err) ?? 'unknown' } })
      throw err
    }
  }

  /** Posts a BTC payout proof; the order being settled already (proved by someone, or paid by fallback) is success. */
  async proveBtcPayout(order: OrderTerms, toProvider: bigint, proof: BtcPayoutProof, signal?: AbortSignal): Promise<SubmitOutcome> {
    if (!order.btc) throw new QantaraError('SUBMIT_REVERTED', `order ${order.id} is not paid in BTC`, { context: { revert: 'NotOwedInBtc' } })
    const call: EscrowCall = { abi: qantaraEscrowAbi, functionName: 'proveBtcPayout', args: [order.id, toEvmOrder(order), toEvmBtcPayout(order.btc), toProvider, toEvmBtcProof(proof)] }
    return this.send(`btc-proof:${order.id}`, { orderId: order.id, before: owedStateHash({ ...order, btc: order.btc }, toProvider) }, call, signal)
  }

  /** Pays the provider's share on the escrow chain once the payout deadline passed unproved. */
  async claimBtcFallback(order: OrderTerms, toProvider: bigint, signal?: AbortSignal): Promise<SubmitOutcome> {
    if (!order.btc) throw new QantaraError('SUBMIT_REVERTED', `order ${order.id} is not paid in BTC`, { context: { revert: 'NotOwedInBtc' } })
    const call: EscrowCall = { abi: qantaraEscrowAbi, functionName: 'claimBtcFallback', args: [order.id, toEvmOrder(order), toEvmBtcPayout(order.btc), toProvider] }
    return this.send(`btc-fallback:${order.id}`, { orderId: order.id, before: owedStateHash({ ...order, btc: order.btc }, toProvider) }, call, signal)
  }

  /**
   * Moves the escrow's light relay out of `epoch` with `headers`, through the escrow, with a quorum's
   * approvals (signers ascending); the relay past it already (another relayer's retarget) is success.
   */
  async retarget(relay: Address, epoch: bigint, headers: Hex, approvals: Hex[], signal?: AbortSignal): Promise<SubmitOutcome> {
    const call: EscrowCall = { abi: qantaraEscrowAbi, functionName: 'retargetRelay', args: [headers, approvals.length ? concat(approvals) : '0x'] }
    return this.send(`btc-retarget:${relay}:${epoch}`, { relay, epoch: epoch.toString() }, call, signal)
  }

  /**
   * One write per key, ever: a confirmed or superseded one is answered from
   * the store, a pending one is tracked, and a fresh one is signed and stored
   * before it is broadcast. Once the target has moved on, the write is done,
   * whoever sent it.
   */
  private async send(key: string, target: Target, call: EscrowCall, signal?: AbortSignal, maxGas?: bigint): Promise<SubmitOutcome> {
    const existing = await this.o.store.getSubmission(this.chain, key)
    if (existing?.state === 'confirmed') return { status: 'submitted', txHash: (existing.payload as Payload).txHash!, confirmations: this.o.receiptConfirmations }
    if (existing?.state === 'already-settled') return { status: 'already-settled' }
    if (existing?.state === 'pending') return this.track(existing, signal)

    const to = this.o.escrow
    const stored = { to, ...('relay' in target ? { relay: target.relay, relayEpoch: target.epoch } : target) }
    if (await this.movedOn(stored)) return this.record(key, 'already-settled', -1, { data: '0x', gas: 0n, attempts: [], ...stored })
    // A write that was mined and reverted is never sent again: whatever made it revert (a token that burns
    // gas only when it counts) would burn our gas again on every try.
    if (existing?.state === 'failed' && (existing.payload as Payload).minedRevert) throw minedRevert(key, (existing.payload as Payload).txHash)
    const params = call as EncodeFunctionDataParameters<typeof qantaraEscrowAbi>
    const data = encodeFunctionData(params)
    let gas: bigint
    try {
      gas = await this.o.pool.run((c) => c.estimateContractGas({ account: this.o.account, address: to, ...params } as EstimateContractGasParameters<typeof qantaraEscrowAbi, EscrowWrite>), 'eth_estimateGas')
    } catch (err) {
      const reason = revertReason(err)
      if (await this.movedOn(stored)) return this.record(key, 'already-settled', -1, { data, gas: 0n, attempts: [], ...stored })
      // A signer outside the set means the set rotated after these signatures were picked: the next try picks from the new one.
      // AlreadySettled with the order still open at `latest` is another relayer's settle in the pending block: the next try sees it.
      if (reason) throw new QantaraError('SUBMIT_REVERTED', `${call.functionName} (${key}) would revert with ${reason}`, { cause: err, context: { revert: reason }, retryable: RETRYABLE_REVERTS.has(reason) })
      throw err
    }
    if (maxGas !== undefined && gas > maxGas) {
      throw new QantaraError('SUBMIT_REVERTED', `${call.functionName} (${key}) needs ${gas} gas, above the cap of ${maxGas}`, { context: { revert: 'GasAboveCap' }, metaMessages: ['The order\'s token makes its settlement cost more than submitter.maxSettlementGas; it is left to its renter\'s reclaim.'] })
    }
    // A settle pays up to three recipients with a bounded stipend each; a recipient cheap under the estimate and greedy
    // when mined must not make the mined transaction run out of gas, so a settle gets that headroom (within the cap).
    const limit = maxGas === undefined ? (gas * 12n) / 10n : min(maxGas, max((gas * 12n) / 10n, gas + SETTLE_STIPEND_HEADROOM))
    const submission = await this.nonceLock.add(() => this.signFirst(key, { data, gas: limit, attempts: [], ...stored }))
    await this.broadcast(submission)
    return this.track(submission, signal)
  }

  private async signFirst(key: string, payload: Payload): Promise<Submission> {
    const nonce = await this.nextNonce()
    const { baseFee, priority } = await this.networkFees()
    const attempt = await this.sign(payload, nonce, initialFees(baseFee, priority, this.o.caps))
    const submission: Submission = { chain: this.chain, key, signer: this.address, nonce, state: 'pending', payload: { ...payload, attempts: [attempt] }, updatedAt: Date.now() }
    await this.o.store.putSubmission(submission)
    this.log.info({ key, nonce, txHash: attempt.hash, maxFeePerGas: attempt.maxFeePerGas }, 'settlement signed')
    return submission
  }

  /** Our next nonce: past everything mined, and past every transaction of ours still in flight. */
  private async nextNonce(): Promise<number> {
    const mined = await this.o.pool.run((c) => c.getTransactionCount({ address: this.address, blockTag: 'latest' }), 'eth_getTransactionCount')
    const inFlight = await this.o.store.pendingSubmissions(this.chain, this.address)
    return Math.max(mined, ...inFlight.map((s) => s.nonce + 1))
  }

  private async networkFees(): Promise<{ baseFee: bigint; priority: bigint }> {
    return this.o.pool.run(async (c) => {
      const block = await c.getBlock({ blockTag: 'latest' })
      const priority = await c.estimateMaxPriorityFeePerGas().catch(() => 1_000_000_000n)
      return { baseFee: block.baseFeePerGas ?? 0n, priority }
    }, 'fee estimate')
  }

  private async sign(payload: Payload, nonce: number, fees: Fees): Promise<Attempt> {
    const raw = await this.o.account.signTransaction({
      type: 'eip1559', chainId: Number(this.chain.split(':')[1]), to: payload.to ?? this.o.escrow, data: payload.data, gas: payload.gas, nonce, value: 0n, ...fees,
    })
    return { hash: keccak256(raw), raw, sentAt: Date.now(), ...fees }
  }

  private async broadcast(s: Submission): Promise<void> {
    const latest = (s.payload as Payload).attempts.at(-1)!
    try {
      await this.o.pool.any((c) => c.sendRawTransaction({ serializedTransaction: latest.raw }), 'eth_sendRawTransaction')
    } catch (err) {
      // "already known", "nonce too low" and underpriced replacements all mean the
      // network holds some version of this nonce: tracking finds out which.
      this.log.warn({ key: s.key, txHash: latest.hash, err }, 'broadcast refused; tracking the nonce')
    }
  }

  /** Follows a pending submission to its end: confirmed, settled by someone else, or a revert. */
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

  private async findReceipt(attempts: Attempt[]): Promise<{ hash: Hex; blockNumber: bigint; success: boolean } | undefined> {
    for (const a of [...attempts].reverse()) {
      const receipt = await this.o.pool.run((c) => c.getTransactionReceipt({ hash: a.hash }).catch(notFound), 'eth_getTransactionReceipt')
      if (receipt) return { hash: a.hash, blockNumber: receipt.blockNumber, success: receipt.status === 'success' }
    }
    return undefined
  }

  private async nonceTakenElsewhere(s: Submission): Promise<boolean> {
    const mined = await this.o.pool.run((c) => c.getTransactionCount({ address: this.address, blockTag: 'latest' }), 'eth_getTransactionCount')
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
      this.log.warn({ key: s.key, maxFeePerGas: last.maxFeePerGas, cap: this.o.caps.maxFeePerGas }, 'settlement stuck at the fee cap; rebroadcasting')
      const again = { ...s, payload: { ...payload, attempts: [...payload.attempts.slice(0, -1), { ...last, sentAt: Date.now() }] }, updatedAt: Date.now() }
      await this.o.store.putSubmission(again)
      await this.broadcast(again)
      return again
    }
    const attempt = await this.sign(payload, s.nonce, fees)
    const next: Submission = { ...s, payload: { ...payload, attempts: [...payload.attempts, attempt] }, updatedAt: Date.now() }
    await this.o.store.putSubmission(next)
    this.log.info({ key: s.key, nonce: s.nonce, txHash: attempt.hash, maxFeePerGas: fees.maxFeePerGas }, 'settlement fee bumped')
    await this.broadcast(next)
    return next
  }

  private async finish(s: Submission, found: { hash: Hex; success: boolean }, confirmations: number): Promise<SubmitOutcome> {
    const payload = { ...(s.payload as Payload), txHash: found.hash }
    if (found.success) {
      await this.o.store.putSubmission({ ...s, state: 'confirmed', payload, updatedAt: Date.now() })
      this.log.info({ key: s.key, txHash: found.hash, confirmations }, 'settlement confirmed')
      return { status: 'submitted', txHash: found.hash, confirmations }
    }
    // Our transaction reverted: most often another relayer's settle landed first.
    return this.finishForeign({ ...s, payload: { ...payload, minedRevert: true } })
  }

  private async finishForeign(s: Submission): Promise<SubmitOutcome> {
    const payload = s.payload as Payload
    if (await this.movedOn(payload, s.key)) {
      await this.record(s.key, 'already-settled', s.nonce, payload)
      this.log.info({ key: s.key }, 'write already done by another submission')
      return { status: 'already-settled' }
    }
    await this.o.store.putSubmission({ ...s, state: 'failed', updatedAt: Date.now() })
    if (payload.minedRevert) throw minedRevert(s.key, payload.txHash)
    throw new QantaraError('SUBMIT_FAILED', `${s.key} did not land and its target has not moved on`, { retryable: true })
  }

  /**
   * Whether what the write changes has changed: the order left its state
   * `before` (submissions stored before writes recorded it were settles:
   * their order must be settled), or the relay left `relayEpoch`.
   */
  private async movedOn(p: Pick<Payload, 'to' | 'relay' | 'orderId' | 'before' | 'relayEpoch'>, key = ''): Promise<boolean> {
    if (p.relayEpoch !== undefined) {
      const epoch = await this.o.pool.run((c) => c.readContract({ address: (p.relay ?? p.to)!, abi: btcLightRelayAbi, functionName: 'currentEpoch' }), 'currentEpoch')
      return epoch > BigInt(p.relayEpoch)
    }
    const orderId = p.orderId ?? (key.slice(key.indexOf(':') + 1) as Hex)
    const state = await this.readState(orderId)
    if (state === ZERO) throw new QantaraError('SUBMIT_REVERTED', `the escrow holds no order ${orderId}`, { context: { revert: 'UnknownOrder' } })
    return p.before ? state !== p.before : state === SETTLED
  }

  private async readState(orderId: Hex): Promise<Hex> {
    const state = await this.o.pool.run((c) => readOrderState(c, this.o.escrow, orderId), 'orderState')
    if (state === REFUNDED) throw new QantaraError('SUBMIT_REVERTED', `order ${orderId} was reclaimed by its renter`, { context: { revert: 'AlreadyRefunded' } })
    return state
  }

  private async record(key: string, state: 'already-settled', nonce: number, payload: Payload): Promise<SubmitOutcome> {
    await this.o.store.putSubmission({ chain: this.chain, key, signer: this.address, nonce, state, payload, updatedAt: Date.now() })
    return { status: state }
  }
}

/** Reverts that a later try can get past: the relayer set or the order moved meanwhile. */
const RETRYABLE_REVERTS = new Set(['NotRelayer', 'NotEnoughSignatures', 'AlreadySettled'])

function readOrderState(c: PublicClient, escrow: Address, orderId: Hex): Promise<Hex> {
  return c.readContract({ address: escrow, abi: qantaraEscrowAbi, functionName: 'orderState', args: [orderId] })
}

function notFound(err: unknown): null {
  if (err instanceof BaseError && err.name === 'TransactionReceiptNotFoundError') return null
  throw err
}

/** Three payees, each a native payment's 50,000 stipend plus the claimable write if it fails (~25,000). */
const SETTLE_STIPEND_HEADROOM = 3n * 75_000n
const min = (a: bigint, b: bigint) => (a < b ? a : b)
const max = (a: bigint, b: bigint) => (a > b ? a : b)

function minedRevert(key: string, txHash: Hex | undefined): QantaraError {
  return new QantaraError('SUBMIT_REVERTED', `${key} was mined and reverted (${txHash ?? 'unknown tx'}); it is not sent again`, { context: { revert: 'MinedRevert' } })
}

/** Reverts that name one signature of the set by its index: that signer's fault, not the settlement's. */
const SIGNATURE_REVERTS = new Set(['HighS', 'InvalidSignature', 'SignersNotAscending'])

/** The signature a revert blames, if it blames one. */
function refusedSignature(err: unknown, signatures: readonly Hex[]): Hex | undefined {
  if (!(err instanceof BaseError || err instanceof QantaraError)) return undefined
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError)
  if (!(reverted instanceof ContractFunctionRevertedError) || !SIGNATURE_REVERTS.has(reverted.data?.errorName ?? '')) return undefined
  const index = reverted.data?.args?.[0]
  return typeof index === 'bigint' && index < BigInt(signatures.length) ? signatures[Number(index)] : undefined
}

/** The escrow's custom error name in a revert, if `err` is one. */
export function revertReason(err: unknown): string | undefined {
  if (!(err instanceof BaseError || err instanceof QantaraError)) return undefined
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError)
  return reverted instanceof ContractFunctionRevertedError ? reverted.data?.errorName : undefined
}
