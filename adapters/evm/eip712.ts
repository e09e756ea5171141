import { concat, getAddress, recoverTypedDataAddress, type Address, type Hex, type LocalAccount } from 'viem'
import type { EvmSettlement } from './codec.js'

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

export const btcQuoteTypes = {
  BtcQuote: [
    { name: 'orderId', type: 'bytes32' },
    { name: 'scriptHash', type: 'bytes32' },
    { name: 'solver', type: 'address' },
    { name: 'satsPerE18', type: 'uint256' },
    { name: 'payoutDeadline', type: 'uint64' },
  ],
} as const

export interface BtcQuote {
  orderId: Hex
  /** keccak256 of the provider's Bitcoin output script. */
  scriptHash: Hex
  solver: Address
  satsPerE18: bigint
  payoutDeadline: bigint
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

export function signSettlement(account: LocalAccount, domain: EscrowDomain, settlement: EvmSettlement): Promise<Hex> {
  return account.signTypedData({ domain: escrowDomain(domain), types: settlementTypes, primaryType: 'Settlement', message: settlement })
}

export function signRelayerSetUpdate(account: LocalAccount, domain: EscrowDomain, update: RelayerSetUpdate): Promise<Hex> {
  return account.signTypedData({ domain: escrowDomain(domain), types: relayerSetUpdateTypes, primaryType: 'RelayerSetUpdate', message: update })
}

/** The solver's commitment, made when the order opens, to pay the provider's share at this rate. */
export function signBtcQuote(account: LocalAccount, domain: EscrowDomain, quote: BtcQuote): Promise<Hex> {
  return account.signTypedData({ domain: escrowDomain(domain), types: btcQuoteTypes, primaryType: 'BtcQuote', message: quote })
}

export function recoverSettlementSigner(domain: EscrowDomain, settlement: EvmSettlement, signature: Hex): Promise<Address> {
  return recoverTypedDataAddress({ domain: escrowDomain(domain), types: settlementTypes, primaryType: 'Settlement', message: settlement, signature })
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
