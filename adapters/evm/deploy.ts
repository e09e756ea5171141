import type { Account, Address, Chain, PublicClient, Transport, WalletClient } from 'viem'
import { qantaraEscrowAbi, qantaraEscrowBytecode } from './contracts/artifacts/QantaraEscrow.js'
import { testTokenAbi, testTokenBytecode } from './contracts/artifacts/TestToken.js'
import { sortAddresses } from './eip712.js'

export interface EscrowParameters {
  relayers: Address[]
  threshold: number
  maxFeeBps: number
  reclaimGrace: bigint
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
    args: [sortAddresses(p.relayers), p.threshold, p.maxFeeBps, p.reclaimGrace],
  })
  return deployed(publicClient, hash)
}

export async function deployTestToken(wallet: Wallet, publicClient: PublicClient, symbol: string, decimals: number): Promise<Address> {
  const hash = await wallet.deployContract({ abi: testTokenAbi, bytecode: testTokenBytecode, args: [`Test ${symbol}`, symbol, decimals] })
  return deployed(publicClient, hash)
}
