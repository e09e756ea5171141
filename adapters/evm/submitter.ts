import {
  BaseError,
  ContractFunctionRevertedError,
  concat,
  encodeFunctionData,
  toHex,
  type Address,
  type ContractFunctionArgs,
  type EncodeFunctionDataParameters,
  type EstimateContractGasParameters,
  type Hex,
  type PublicClient,
} from 'viem'
import type { ChainId } from '../../src/caip2.js'
import type { SubmitOutcome } from '../../src/chains.js'
import type { BtcPayoutProof } from '../../src/btcRail.js'
import { QantaraError } from '../../src/errors.js'
import type { OrderTerms } from '../../src/order.js'
import type { Settlement } from '../../src/settlement.js'
import { btcLightRelayAbi } from './contracts/artifacts/BtcLightRelay.js'
import { qantaraEscrowAbi } from './contracts/artifacts/QantaraEscrow.js'
import {
  openStateHash,
  owedStateHash,
  toEvmBtcPayout,
  toEvmBtcProof,
  toEvmOrder,
  toEvmSettlement,
} from './codec.js'
import { DurableTx, type DurableTxOptions, type TxTarget } from './durableTx.js'

const REFUNDED = toHex(2, { size: 32 })
const ZERO = toHex(0, { size: 32 })

export interface EvmSubmitterOptions extends DurableTxOptions {
  escrow: Address
  /** The most gas one settlement may use; above it the settlement is not sent. */
  maxSettlementGas?: bigint
}

type EscrowWrite = 'settle' | 'settleBtc' | 'proveBtcPayout' | 'claimBtcFallback' | 'retargetRelay'
type EscrowCall = {
  [F in EscrowWrite]: {
    abi: typeof qantaraEscrowAbi
    functionName: F
    args: ContractFunctionArgs<typeof qantaraEscrowAbi, 'nonpayable', F>
  }
}[EscrowWrite]

/**
 * The escrow's writes: settlements, BTC payout proofs and fallbacks, and
 * light relay retargets, each sent once through a DurableTx and done once
 * its target moved on, whoever moved it.
 */
export class EvmSubmitter {
  readonly chain: ChainId
  private readonly tx: DurableTx

  constructor(private readonly o: EvmSubmitterOptions) {
    this.chain = o.chain
    this.tx = new DurableTx(o, (target) => this.movedOn(target))
  }

  get address(): Address {
    return this.tx.address
  }

  /** Settles an order (settleBtc when its provider is paid in BTC); an order settled already is success. */
  async submit(
    order: OrderTerms,
    settlement: Settlement,
    auth: { signatures: Hex[] },
    signal?: AbortSignal,
  ): Promise<SubmitOutcome> {
    const signatures = auth.signatures.length ? concat(auth.signatures) : '0x'
    const call: EscrowCall = order.btc
      ? {
          abi: qantaraEscrowAbi,
          functionName: 'settleBtc',
          args: [toEvmOrder(order), toEvmBtcPayout(order.btc), toEvmSettlement(settlement), signatures],
        }
      : {
          abi: qantaraEscrowAbi,
          functionName: 'settle',
          args: [toEvmOrder(order), toEvmSettlement(settlement), signatures],
        }
    try {
      return await this.send(
        `settle:${settlement.orderId}`,
        { orderId: settlement.orderId, before: openStateHash(order) },
        call,
        signal,
        this.o.maxSettlementGas,
      )
    } catch (err) {
      const refused = refusedSignature(err, auth.signatures)
      if (refused)
        throw new QantaraError(
          'SIGNATURE_REFUSED',
          `the escrow refuses one signature of the set for ${settlement.orderId} (${revertReason(err)})`,
          {
            cause: err,
            retryable: true,
            context: { signature: refused, revert: revertReason(err) ?? 'unknown' },
          },
        )
      throw err
    }
  }

  /** Posts a BTC payout proof; the order being settled already (proved by someone, or paid by fallback) is success. */
  async proveBtcPayout(
    order: OrderTerms,
    toProvider: bigint,
    proof: BtcPayoutProof,
    signal?: AbortSignal,
  ): Promise<SubmitOutcome> {
    if (!order.btc)
      throw new QantaraError('SUBMIT_REVERTED', `order ${order.id} is not paid in BTC`, {
        context: { revert: 'NotOwedInBtc' },
      })
    const call: EscrowCall = {
      abi: qantaraEscrowAbi,
      functionName: 'proveBtcPayout',
      args: [order.id, toEvmOrder(order), toEvmBtcPayout(order.btc), toProvider, toEvmBtcProof(proof)],
    }
    return this.send(
      `btc-proof:${order.id}`,
      { orderId: order.id, before: owedStateHash({ ...order, btc: order.btc }, toProvider) },
      call,
      signal,
    )
  }

  /** Pays the provider's share on the escrow chain once the payout deadline passed unproved. */
  async claimBtcFallback(
    order: OrderTerms,
    toProvider: bigint,
    signal?: AbortSignal,
  ): Promise<SubmitOutcome> {
    if (!order.btc)
      throw new QantaraError('SUBMIT_REVERTED', `order ${order.id} is not paid in BTC`, {
        context: { revert: 'NotOwedInBtc' },
      })
    const call: EscrowCall = {
      abi: qantaraEscrowAbi,
      functionName: 'claimBtcFallback',
      args: [order.id, toEvmOrder(order), toEvmBtcPayout(order.btc), toProvider],
    }
    return this.send(
      `btc-fallback:${order.id}`,
      { orderId: order.id, before: owedStateHash({ ...order, btc: order.btc }, toProvider) },
      call,
      signal,
    )
  }

  /**
   * Moves the escrow's light relay out of `epoch` with `headers`, through the escrow, with a quorum's
   * approvals (signers ascending); the relay past it already (another relayer's retarget) is success.
   */
  async retarget(
    relay: Address,
    epoch: bigint,
    headers: Hex,
    approvals: Hex[],
    signal?: AbortSignal,
  ): Promise<SubmitOutcome> {
    const call: EscrowCall = {
      abi: qantaraEscrowAbi,
      functionName: 'retargetRelay',
      args: [headers, approvals.length ? concat(approvals) : '0x'],
    }
    return this.send(`btc-retarget:${relay}:${epoch}`, { relay, relayEpoch: epoch.toString() }, call, signal)
  }

  /** One write per key, ever; its gas limit estimated, capped and refused as the escrow would refuse it. */
  private send(
    key: string,
    target: TxTarget,
    call: EscrowCall,
    signal?: AbortSignal,
    maxGas?: bigint,
  ): Promise<SubmitOutcome> {
    const params = call as EncodeFunctionDataParameters<typeof qantaraEscrowAbi>
    const gasLimit = async () => {
      let gas: bigint
      try {
        gas = await this.o.pool.run(
          (c) =>
            c.estimateContractGas({
              account: this.o.account,
              address: this.o.escrow,
              ...params,
            } as EstimateContractGasParameters<typeof qantaraEscrowAbi, EscrowWrite>),
          'eth_estimateGas',
        )
      } catch (err) {
        const reason = revertReason(err)
        // A signer outside the set means the set rotated after these signatures were picked: the next try picks from the new one.
        // AlreadySettled with the order still open at `latest` is another relayer's settle in the pending block: the next try sees it.
        if (reason)
          throw new QantaraError(
            'SUBMIT_REVERTED',
            `${call.functionName} (${key}) would revert with ${reason}`,
            { cause: err, context: { revert: reason }, retryable: RETRYABLE_REVERTS.has(reason) },
          )
        throw err
      }
      if (maxGas !== undefined && gas > maxGas) {
        throw new QantaraError(
          'SUBMIT_REVERTED',
          `${call.functionName} (${key}) needs ${gas} gas, above the cap of ${maxGas}`,
          {
            context: { revert: 'GasAboveCap' },
            metaMessages: [
              "The order's token makes its settlement cost more than submitter.maxSettlementGas; it is left to its renter's reclaim.",
            ],
          },
        )
      }
      // A settle pays up to three recipients with a bounded stipend each; a recipient cheap under the estimate and greedy
      // when mined must not make the mined transaction run out of gas, so a settle gets that headroom (within the cap).
      return maxGas === undefined
        ? (gas * 12n) / 10n
        : min(maxGas, max((gas * 12n) / 10n, gas + SETTLE_STIPEND_HEADROOM))
    }
    return this.tx.send(
      { key, to: this.o.escrow, data: encodeFunctionData(params), target, gasLimit },
      signal,
    )
  }

  /** Whether what the write changes has changed: the order left its state `before`, or the relay left `relayEpoch`. */
  private async movedOn(target: TxTarget): Promise<boolean> {
    if ('relay' in target) {
      const epoch = await this.o.pool.run(
        (c) => c.readContract({ address: target.relay, abi: btcLightRelayAbi, functionName: 'currentEpoch' }),
        'currentEpoch',
      )
      return epoch > BigInt(target.relayEpoch)
    }
    const state = await this.readState(target.orderId)
    if (state === ZERO)
      throw new QantaraError('SUBMIT_REVERTED', `the escrow holds no order ${target.orderId}`, {
        context: { revert: 'UnknownOrder' },
      })
    return state !== target.before
  }

  private async readState(orderId: Hex): Promise<Hex> {
    const state = await this.o.pool.run((c) => readOrderState(c, this.o.escrow, orderId), 'orderState')
    if (state === REFUNDED)
      throw new QantaraError('SUBMIT_REVERTED', `order ${orderId} was reclaimed by its renter`, {
        context: { revert: 'AlreadyRefunded' },
      })
    return state
  }
}

/** Reverts that a later try can get past: the relayer set or the order moved meanwhile. */
const RETRYABLE_REVERTS = new Set(['NotRelayer', 'NotEnoughSignatures', 'AlreadySettled'])

function readOrderState(c: PublicClient, escrow: Address, orderId: Hex): Promise<Hex> {
  return c.readContract({
    address: escrow,
    abi: qantaraEscrowAbi,
    functionName: 'orderState',
    args: [orderId],
  })
}

/** Three payees, each a native payment's 50,000 stipend plus the claimable write if it fails (~25,000). */
const SETTLE_STIPEND_HEADROOM = 3n * 75_000n
const min = (a: bigint, b: bigint) => (a < b ? a : b)
const max = (a: bigint, b: bigint) => (a > b ? a : b)

/** Reverts that name one signature of the set by its index: that signer's fault, not the settlement's. */
const SIGNATURE_REVERTS = new Set(['HighS', 'InvalidSignature', 'SignersNotAscending'])

/** The signature a revert blames, if it blames one. */
function refusedSignature(err: unknown, signatures: readonly Hex[]): Hex | undefined {
  if (!(err instanceof BaseError || err instanceof QantaraError)) return undefined
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError)
  if (
    !(reverted instanceof ContractFunctionRevertedError) ||
    !SIGNATURE_REVERTS.has(reverted.data?.errorName ?? '')
  )
    return undefined
  const index = reverted.data?.args?.[0]
  return typeof index === 'bigint' && index < BigInt(signatures.length)
    ? signatures[Number(index)]
    : undefined
}

/** The escrow's custom error name in a revert, if `err` is one. */
export function revertReason(err: unknown): string | undefined {
  if (!(err instanceof BaseError || err instanceof QantaraError)) return undefined
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError)
  return reverted instanceof ContractFunctionRevertedError ? reverted.data?.errorName : undefined
}
