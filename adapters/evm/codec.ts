import {
  encodeAbiParameters,
  getAddress,
  isAddress,
  keccak256,
  toHex,
  zeroAddress,
  type Address,
  type Hex,
} from 'viem'
import { qantaraEscrowAbi } from './contracts/artifacts/QantaraEscrow.js'
import { NATIVE_TOKEN, type BtcPayoutTerms, type OrderTerms } from '../../src/order.js'
import type { Settlement } from '../../src/settlement.js'
import { decodeGpuRequirement, encodeGpuRequirement, type GpuRequirement } from '../../src/gpu/requirement.js'
import type { BtcPayoutProof } from '../../src/btcRail.js'

/** The escrow contract's `Order` tuple. */
export interface EvmOrder {
  renter: Address
  token: Address
  amount: bigint
  providerId: Hex
  payout: Address
  start: bigint
  slotLength: number
  slots: number
  /** `encodeGpuRequirement` of the order's GPUs. */
  gpu: bigint
}

/** The escrow contract's `Settlement` tuple. */
export interface EvmSettlement {
  orderId: Hex
  toProvider: bigint
  toRenter: bigint
  fee: bigint
  feeRecipient: Address
  upSlots: number
  totalSlots: number
  heartbeatRoot: Hex
}

export function tokenAddress(token: string): Address {
  return token === NATIVE_TOKEN ? zeroAddress : getAddress(token)
}

export function tokenName(token: Address): string {
  return token === zeroAddress ? NATIVE_TOKEN : getAddress(token)
}

export function toEvmOrder(order: OrderTerms): EvmOrder {
  return {
    renter: getAddress(order.renter),
    token: tokenAddress(order.token),
    amount: order.amount,
    providerId: order.providerId,
    payout: getAddress(order.payout),
    start: order.start,
    slotLength: order.slotLength,
    slots: order.slots,
    gpu: encodeGpuRequirement(order.gpu),
  }
}

export function toEvmSettlement(s: Settlement): EvmSettlement {
  return {
    orderId: s.orderId,
    toProvider: s.toProvider,
    toRenter: s.toRenter,
    fee: s.fee,
    feeRecipient: s.feeRecipient === '' ? zeroAddress : getAddress(s.feeRecipient),
    upSlots: s.upSlots,
    totalSlots: s.totalSlots,
    heartbeatRoot: s.heartbeatRoot,
  }
}

export function isEvmAddress(value: string): boolean {
  return isAddress(value, { strict: false })
}

/** The escrow contract's `BtcPayout` tuple. */
export interface EvmBtcPayout {
  script: Hex
  solver: Address
  satsPerE18: bigint
  payoutDeadline: bigint
  maxAmount: bigint
  openBy: bigint
  latestEnd: bigint
}

export function toEvmBtcPayout(b: BtcPayoutTerms): EvmBtcPayout {
  return {
    script: `0x${b.script}`,
    solver: getAddress(b.solver),
    satsPerE18: b.satsPerE18,
    payoutDeadline: b.payoutDeadline,
    maxAmount: b.maxAmount,
    openBy: b.openBy,
    latestEnd: b.latestEnd,
  }
}

const openBtcInputs = qantaraEscrowAbi.find((i) => i.type === 'function' && i.name === 'openBtc')!.inputs
const [orderParam, btcParam] = [openBtcInputs[0], openBtcInputs[1]]
const BTC_OWED = keccak256(toHex('qantara/btc-owed'))

/** What the escrow stores for an open order: the hash of its terms. */
export function openStateHash(order: OrderTerms): Hex {
  return order.btc
    ? keccak256(encodeAbiParameters([orderParam, btcParam], [toEvmOrder(order), toEvmBtcPayout(order.btc)]))
    : keccak256(encodeAbiParameters([orderParam], [toEvmOrder(order)]))
}

/** What the escrow stores for a settled order whose provider share is owed in BTC. */
export function owedStateHash(order: OrderTerms & { btc: BtcPayoutTerms }, toProvider: bigint): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'bytes32' }, orderParam, btcParam, { type: 'uint256' }],
      [BTC_OWED, toEvmOrder(order), toEvmBtcPayout(order.btc), toProvider],
    ),
  )
}

/** A BTC payout proof as `proveBtcPayout` takes it: byte lists concatenated. */
export function toEvmBtcProof(p: BtcPayoutProof) {
  const join = (parts: Uint8Array[]): Hex => (parts.length ? toHex(Buffer.concat(parts)) : '0x')
  return {
    tx: toHex(p.tx),
    txIndex: BigInt(p.txIndex),
    merkle: join(p.merkle),
    headers: join(p.headers),
    coinbase: toHex(p.coinbase),
    coinbaseMerkle: join(p.coinbaseMerkle),
  }
}

/** An escrow log's GPU word as order terms carry it; a word the escrow would refuse reads as no GPU at all, which intake refuses. */
export function gpuOfWord(word: bigint): GpuRequirement {
  return decodeGpuRequirement(word) ?? { class: 'unknown', count: 0, minVramMiB: 0 }
}
