import { QantaraError } from '../../src/errors.js'
import {
  BaseError,
  decodeErrorResult,
  getContractAddress,
  isAddressEqual,
  zeroAddress,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { btcLightRelayAbi, btcLightRelayBytecode } from './contracts/artifacts/BtcLightRelay.js'
import { qantaraEscrowAbi, qantaraEscrowBytecode } from './contracts/artifacts/QantaraEscrow.js'
import { testTokenAbi, testTokenBytecode } from './contracts/artifacts/TestToken.js'
import { sortAddresses } from './eip712.js'

/** The relay's network is part of its deployment and has no default: regtest exists for local devnets only. */
export type BtcRelayNetwork = 'mainnet' | 'regtest'

/** Bitcoin's block subsidy since the April 2024 halving, in satoshis; it halves again around 2028. */
export const BTC_BLOCK_REWARD_SATS = 312_500_000n

/**
 * The default cap on what one order may be owed in BTC, and so on what one
 * payout proof can release: half of what the `confirmations` blocks a fake
 * proof must carry would earn their miner (6 × 3.125 BTC / 2 = 9.375 BTC), so a
 * fake costs at least twice what it takes. It follows the subsidy: after the
 * next halving, deploy with half (docs/PROTOCOL.md §7, "What a proof is worth").
 */
export function defaultMaxPayoutSats(confirmations: number): bigint {
  return (BigInt(confirmations) * BTC_BLOCK_REWARD_SATS) / 2n
}

export interface BtcEscrowParameters {
  /** The network the escrow expects: it refuses a relay on any other. */
  network: BtcRelayNetwork
  /** Headers a payout proof must carry (6 on mainnet). */
  confirmations: number
  /** The most satoshis one order may be owed; `defaultMaxPayoutSats(confirmations)` when absent. */
  maxPayoutSats?: bigint
}

export interface EscrowParameters {
  relayers: Address[]
  threshold: number
  maxFeeBps: number
  reclaimGrace: bigint
  /** For orders paid to providers in BTC: a BtcLightRelay bound to this escrow (see deployBtcEscrow); none turns BTC payouts off. */
  btc?: BtcEscrowParameters & { relay: Address }
}

export interface BtcGenesis {
  /** The relay's anchor: an epoch's first header on mainnet (80 bytes, hex). */
  header: Hex
  height: number
  /** Headers a retarget carries on each side of the boundary (1–100). */
  proofLength: number
}

type Wallet = WalletClient<Transport, Chain, Account>

async function deployed(publicClient: PublicClient, hash: `0x${string}`): Promise<Address> {
  const receipt = await publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success' || !receipt.contractAddress)
    throw new QantaraError('SUBMIT_REVERTED', `deployment ${hash} failed`, {
      context: { revert: 'MinedRevert' },
    })
  return receipt.contractAddress
}

export const NETWORK = { mainnet: 0, regtest: 1 } as const

export async function deployEscrow(
  wallet: Wallet,
  publicClient: PublicClient,
  p: EscrowParameters,
  nonce?: number,
): Promise<Address> {
  const hash = await wallet
    .deployContract({
      abi: qantaraEscrowAbi,
      bytecode: qantaraEscrowBytecode,
      args: escrowConstructorArgs(p),
      ...(nonce !== undefined ? { nonce } : {}),
    })
    .catch((err: unknown) => {
      throw escrowRefusal(err)
    })
  return deployed(publicClient, hash)
}

/** The escrow constructor's arguments, relayers sorted as it requires. */
export function escrowConstructorArgs(p: EscrowParameters) {
  const btc = p.btc
  return [
    sortAddresses(p.relayers),
    p.threshold,
    p.maxFeeBps,
    p.reclaimGrace,
    btc?.relay ?? zeroAddress,
    NETWORK[btc?.network ?? 'mainnet'],
    btc?.confirmations ?? 0,
    btc ? (btc.maxPayoutSats ?? defaultMaxPayoutSats(btc.confirmations)) : 0n,
  ] as const
}

/** A failed escrow deployment as a typed error naming the constructor's refusal. */
export function escrowRefusal(err: unknown): QantaraError<'SUBMIT_REVERTED'> {
  return new QantaraError(
    'SUBMIT_REVERTED',
    `the escrow refuses this deployment: ${escrowRevert(err) ?? (err instanceof BaseError ? err.shortMessage : String(err))}`,
    { cause: err, context: { revert: escrowRevert(err) ?? 'unknown' } },
  )
}

/** The escrow's custom error in a failed deployment, by name and arguments (viem leaves a constructor's undecoded). */
function escrowRevert(err: unknown): string | undefined {
  const rpc =
    err instanceof BaseError
      ? (err.walk((e) => typeof (e as { data?: unknown }).data === 'string') as { data: Hex } | null)
      : null
  try {
    const { errorName, args } = decodeErrorResult({ abi: qantaraEscrowAbi, data: rpc!.data })
    return `${errorName}(${(args ?? []).map(String).join(', ')})`
  } catch {
    return undefined
  }
}

/**
 * Deploys an escrow for BTC payouts with its own light relay, in this order:
 * the relay at the wallet's next nonce n, bound to the address nonce n + 1
 * creates; the escrow at n + 1, which checks that binding and the relay's
 * network; then, with `genesis`, the relay's anchor (its owner, this wallet).
 * Nothing else may send from the wallet meanwhile: a nonce taken in between
 * makes the escrow's check fail, and the deployment is simply redone.
 */
export async function deployBtcEscrow(
  wallet: Wallet,
  publicClient: PublicClient,
  p: Omit<EscrowParameters, 'btc'> & { btc: BtcEscrowParameters & { genesis?: BtcGenesis } },
): Promise<{ escrow: Address; relay: Address }> {
  const from = wallet.account.address
  const nonce = await publicClient.getTransactionCount({ address: from, blockTag: 'pending' })
  const expected = getContractAddress({ from, nonce: BigInt(nonce + 1) })
  const relay = await deployBtcRelay(wallet, publicClient, p.btc.network, expected, nonce)
  const escrow = await deployEscrow(wallet, publicClient, { ...p, btc: { ...p.btc, relay } }, nonce + 1)
  if (!isAddressEqual(escrow, expected))
    throw new QantaraError(
      'RPC_BAD_RESPONSE',
      `escrow deployed at ${escrow}, not at ${expected} where its relay expects it`,
    )
  if (p.btc.genesis) {
    const { header, height, proofLength } = p.btc.genesis
    const receipt = await publicClient.waitForTransactionReceipt({
      hash: await wallet.writeContract({
        address: relay,
        abi: btcLightRelayAbi,
        functionName: 'genesis',
        args: [header, BigInt(height), BigInt(proofLength)],
      }),
    })
    if (receipt.status !== 'success')
      throw new QantaraError('SUBMIT_REVERTED', `genesis of the relay at ${relay} failed`, {
        context: { revert: 'MinedRevert' },
      })
  }
  return { escrow, relay }
}

/** A light relay that takes retargets from `escrow` alone. */
export async function deployBtcRelay(
  wallet: Wallet,
  publicClient: PublicClient,
  network: BtcRelayNetwork,
  escrow: Address,
  nonce?: number,
): Promise<Address> {
  const hash = await wallet.deployContract({
    abi: btcLightRelayAbi,
    bytecode: btcLightRelayBytecode,
    args: [NETWORK[network], escrow],
    ...(nonce !== undefined ? { nonce } : {}),
  })
  return deployed(publicClient, hash)
}

export async function deployTestToken(
  wallet: Wallet,
  publicClient: PublicClient,
  symbol: string,
  decimals: number,
): Promise<Address> {
  const hash = await wallet.deployContract({
    abi: testTokenAbi,
    bytecode: testTokenBytecode,
    args: [`Test ${symbol}`, symbol, decimals],
  })
  return deployed(publicClient, hash)
}
