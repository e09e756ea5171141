import {
  concat,
  getAddress,
  keccak256,
  recoverTypedDataAddress,
  type Address,
  type Hex,
  type LocalAccount,
} from 'viem'
import type { EvmBtcPayout, EvmSettlement } from './codec.js'

export const settlementTypes = {
  Settlement: [
    { name: 'orderId', type: 'bytes32' },
    { name: 'toProvider', type: 'uint256' },
    { name: 'toRenter', type: 'uint256' },
    { name: 'fee', type: 'uint256' },
    { name: 'feeRecipient', type: 'address' },
    { name: 'upSlots', type: 'uint32' },
    { name: 'totalSlots', type: 'uint32' },
    { name: 'heartbeatRoot', type: 'bytes32' },
  ],
} as const

export const relayerSetUpdateTypes = {
  RelayerSetUpdate: [
    { name: 'version', type: 'uint64' },
    { name: 'members', type: 'address[]' },
    { name: 'threshold', type: 'uint8' },
  ],
} as const

/** A relayer's approval of the headers that move the escrow's light relay out of `epoch` (its current one). */
export const relayRetargetTypes = {
  RelayRetarget: [
    { name: 'relay', type: 'address' },
    { name: 'epoch', type: 'uint64' },
    { name: 'headersHash', type: 'bytes32' },
  ],
} as const

export const btcQuoteTypes = {
  BtcQuote: [
    { name: 'orderId', type: 'bytes32' },
    { name: 'scriptHash', type: 'bytes32' },
    { name: 'solver', type: 'address' },
    { name: 'token', type: 'address' },
    { name: 'maxAmount', type: 'uint256' },
    { name: 'satsPerE18', type: 'uint256' },
    { name: 'openBy', type: 'uint64' },
    { name: 'latestEnd', type: 'uint64' },
    { name: 'payoutDeadline', type: 'uint64' },
  ],
} as const

/** What a solver signs for one order id: the order it may open, and the rate and deadline it pays at. */
export interface BtcQuote {
  orderId: Hex
  /** keccak256 of the provider's Bitcoin output script. */
  scriptHash: Hex
  solver: Address
  /** The order's token; the zero address for the chain's native asset. */
  token: Address
  /** The most the order may lock, in the token's smallest units. */
  maxAmount: bigint
  satsPerE18: bigint
  /** Unix seconds after which the quote opens no order. */
  openBy: bigint
  /** Unix seconds by which the order must end. */
  latestEnd: bigint
  payoutDeadline: bigint
}

export interface RelayRetarget {
  relay: Address
  epoch: bigint
  /** keccak256 of the headers, concatenated as the relay takes them. */
  headersHash: Hex
}

export interface EscrowDomain {
  chainId: number
  escrow: Address
}

export function escrowDomain({ chainId, escrow }: EscrowDomain) {
  return { name: 'QantaraEscrow', version: '1', chainId, verifyingContract: escrow } as const
}

export interface RelayerSetUpdate {
  version: bigint
  members: Address[]
  threshold: number
}

export function signSettlement(
  account: LocalAccount,
  domain: EscrowDomain,
  settlement: EvmSettlement,
): Promise<Hex> {
  return account.signTypedData({
    domain: escrowDomain(domain),
    types: settlementTypes,
    primaryType: 'Settlement',
    message: settlement,
  })
}

export function signRelayerSetUpdate(
  account: LocalAccount,
  domain: EscrowDomain,
  update: RelayerSetUpdate,
): Promise<Hex> {
  return account.signTypedData({
    domain: escrowDomain(domain),
    types: relayerSetUpdateTypes,
    primaryType: 'RelayerSetUpdate',
    message: update,
  })
}

export function signRelayRetarget(
  account: LocalAccount,
  domain: EscrowDomain,
  retarget: RelayRetarget,
): Promise<Hex> {
  return account.signTypedData({
    domain: escrowDomain(domain),
    types: relayRetargetTypes,
    primaryType: 'RelayRetarget',
    message: retarget,
  })
}

export function recoverRelayRetargetSigner(
  domain: EscrowDomain,
  retarget: RelayRetarget,
  signature: Hex,
): Promise<Address> {
  return recoverTypedDataAddress({
    domain: escrowDomain(domain),
    types: relayRetargetTypes,
    primaryType: 'RelayRetarget',
    message: retarget,
    signature,
  })
}

/** The quote that opens an order of `token` with `payout`, as `openBtc` rebuilds it to check the solver's signature. */
export function btcQuoteFor(orderId: Hex, token: Address, payout: EvmBtcPayout): BtcQuote {
  return {
    orderId,
    scriptHash: keccak256(payout.script),
    solver: payout.solver,
    token,
    maxAmount: payout.maxAmount,
    satsPerE18: payout.satsPerE18,
    openBy: payout.openBy,
    latestEnd: payout.latestEnd,
    payoutDeadline: payout.payoutDeadline,
  }
}

/** The solver's commitment, made when the order opens, to pay the provider's share at this rate. */
export function signBtcQuote(account: LocalAccount, domain: EscrowDomain, quote: BtcQuote): Promise<Hex> {
  return account.signTypedData({
    domain: escrowDomain(domain),
    types: btcQuoteTypes,
    primaryType: 'BtcQuote',
    message: quote,
  })
}

export function recoverSettlementSigner(
  domain: EscrowDomain,
  settlement: EvmSettlement,
  signature: Hex,
): Promise<Address> {
  return recoverTypedDataAddress({
    domain: escrowDomain(domain),
    types: settlementTypes,
    primaryType: 'Settlement',
    message: settlement,
    signature,
  })
}

/** Orders signatures by signer address, ascending, as the escrow requires, and concatenates them. */
export function packSignatures(signed: { signer: Address; signature: Hex }[]): Hex {
  const sorted = [...signed].sort((a, b) => compareAddresses(a.signer, b.signer))
  return sorted.length === 0 ? '0x' : concat(sorted.map((s) => s.signature))
}

export function compareAddresses(a: Address, b: Address): number {
  const x = BigInt(getAddress(a))
  const y = BigInt(getAddress(b))
  return x < y ? -1 : x > y ? 1 : 0
}

export function sortAddresses(addresses: Address[]): Address[] {
  return [...addresses].map((a) => getAddress(a)).sort(compareAddresses)
}

const HALF_CURVE_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n

/**
 * Whether a 65-byte signature is in the one form the escrow accepts: low s
 * and v of 27 or 28. viem recovers the other forms too, so a peer's signature
 * is checked against this before it is kept; otherwise a malleated copy of a
 * valid signature would make the whole set revert on chain.
 */
export function isEscrowSignatureForm(signature: string): boolean {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) return false
  const s = BigInt(`0x${signature.slice(66, 130)}`)
  const v = Number.parseInt(signature.slice(130), 16)
  return s <= HALF_CURVE_ORDER && (v === 27 || v === 28)
}
