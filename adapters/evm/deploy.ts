import { zeroAddress, type Account, type Address, type Chain, type PublicClient, type Transport, type WalletClient } from 'viem'
import { btcLightRelayAbi, btcLightRelayBytecode } from './contracts/artifacts/BtcLightRelay.js'
import { qantaraEscrowAbi, qantaraEscrowBytecode } from './contracts/artifacts/QantaraEscrow.js'
import { testTokenAbi, testTokenBytecode } from './contracts/artifacts/TestToken.js'
import { sortAddresses } from './eip712.js'

export interface EscrowParameters {
  relayers: Address[]
  threshold: number
  maxFeeBps: number
  reclaimGrace: bigint
  /** A BtcLightRelay, for orders paid to providers in BTC; none turns BTC payouts off. */
  btcRelay?: Address
  /** Headers a payout proof must carry (6 on mainnet). */
  btcConfirmations?: number
}

type Wallet = WalletClient<Transport, Chain, Account>

async function deployed(publicClient: PublicClient, hash: `0x${string}`): Promise<Address> {
  const receipt = await publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success' || !receipt.contractAddress) throw new Error(`deployment ${hash} failed`)
  return receipt.contractAddress
}

export async function deployEscrow(wallet: Wallet, publicClient: PublicClient, p: EscrowParameters): Promise<Address> {
  const hash = await wallet.deployContract({
    abi: qantaraEscrowAbi,
    bytecode: qantaraEscrowBytecode,
    args: [sortAddresses(p.relayers), p.threshold, p.maxFeeBps, p.reclaimGrace, p.btcRelay ?? zeroAddress, p.btcConfirmations ?? 0],
  })
  return deployed(publicClient, hash)
}

export async function deployTestToken(wallet: Wallet, publicClient: PublicClient, symbol: string, decimals: number): Promise<Address> {
  const hash = await wallet.deployContract({ abi: testTokenAbi, bytecode: testTokenBytecode, args: [`Test ${symbol}`, symbol, decimals] })
  return deployed(publicClient, hash)
}

/** The relay's network is part of its deployment and has no default: regtest exists for local devnets only. */
export type BtcRelayNetwork = 'mainnet' | 'regtest'

export async function deployBtcRelay(wallet: Wallet, publicClient: PublicClient, network: BtcRelayNetwork): Promise<Address> {
  const hash = await wallet.deployContract({ abi: btcLightRelayAbi, bytecode: btcLightRelayBytecode, args: [network === 'mainnet' ? 0 : 1] })
  return deployed(publicClient, hash)
}
