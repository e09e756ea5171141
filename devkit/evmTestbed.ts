import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  http,
  keccak256,
  toHex,
  zeroAddress,
  type Account,
  type Address,
  type Hex,
  type LocalAccount,
  type PublicClient,
  type TestClient,
  type WalletClient,
  type Chain,
  type Transport,
} from 'viem'
import { generatePrivateKey, mnemonicToAccount, privateKeyToAccount } from 'viem/accounts'
import { foundry } from 'viem/chains'
import { startAnvil, type Anvil, type AnvilOptions } from './chains/anvil.js'
import { deployEscrow, deployTestToken } from '../adapters/evm/deploy.js'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { testTokenAbi } from '../adapters/evm/contracts/artifacts/TestToken.js'
import { signSettlement, sortAddresses, packSignatures, type EscrowDomain } from '../adapters/evm/eip712.js'
import type { EvmOrder, EvmSettlement } from '../adapters/evm/codec.js'
import { encodeGpuRequirement } from '../src/gpu/requirement.js'
import { REFERENCE_ORDER_GPU } from './gpu/referenceGpu.js'

const MNEMONIC = 'test test test test test test test test test test test junk'

export interface EvmTestbed {
  anvil: Anvil
  publicClient: PublicClient
  testClient: TestClient
  wallet(index: number): WalletClient<Transport, Chain, Account>
  account(index: number): LocalAccount
  stop(): Promise<void>
}

export async function startEvmTestbed(options: AnvilOptions = {}): Promise<EvmTestbed> {
  const anvil = await startAnvil(options)
  const chain = { ...foundry, id: options.chainId ?? 31337 }
  const transport = http(anvil.rpcUrl)
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 })
  const testClient = createTestClient({ chain, transport, mode: 'anvil' })
  // HD derivation costs ~30 ms (PBKDF2 of the mnemonic), so each account is derived once.
  const accounts = new Map<number, LocalAccount>()
  const account = (index: number) => {
    let a = accounts.get(index)
    if (!a) accounts.set(index, (a = mnemonicToAccount(MNEMONIC, { addressIndex: index })))
    return a
  }
  return {
    anvil,
    publicClient,
    testClient,
    account,
    wallet: (index) => createWalletClient({ chain, transport, account: account(index) }),
    stop: () => anvil.stop(),
  }
}

/** `n` fresh relayer keys, sorted by address as the escrow wants them. */
export function relayerKeys(n: number): LocalAccount[] {
  return Array.from({ length: n }, () => privateKeyToAccount(generatePrivateKey())).sort((a, b) =>
    BigInt(a.address) < BigInt(b.address) ? -1 : 1,
  )
}

export interface Deployment {
  escrow: Address
  token: Address
  domain: EscrowDomain
}

export async function deployMarket(
  bed: EvmTestbed,
  relayers: LocalAccount[],
  threshold: number,
  opts: { maxFeeBps?: number; reclaimGrace?: bigint } = {},
): Promise<Deployment> {
  const deployer = bed.wallet(0)
  const escrow = await deployEscrow(deployer, bed.publicClient, {
    relayers: sortAddresses(relayers.map((r) => r.address)),
    threshold,
    maxFeeBps: opts.maxFeeBps ?? 500,
    reclaimGrace: opts.reclaimGrace ?? 3600n,
  })
  const token = await deployTestToken(deployer, bed.publicClient, 'USDC', 6)
  return { escrow, token, domain: { chainId: bed.publicClient.chain!.id, escrow } }
}

export async function fund(
  bed: EvmTestbed,
  d: Deployment,
  renterIndex: number,
  amount: bigint,
): Promise<void> {
  const renter = bed.wallet(renterIndex)
  await bed.publicClient.waitForTransactionReceipt({
    hash: await renter.writeContract({
      address: d.token,
      abi: testTokenAbi,
      functionName: 'mint',
      args: [renter.account.address, amount],
    }),
  })
  await bed.publicClient.waitForTransactionReceipt({
    hash: await renter.writeContract({
      address: d.token,
      abi: testTokenAbi,
      functionName: 'approve',
      args: [d.escrow, 2n ** 256n - 1n],
    }),
  })
}

export async function openOrder(
  bed: EvmTestbed,
  d: Deployment,
  renterIndex: number,
  o: Partial<EvmOrder> & { amount: bigint },
  salt: Hex = toHex(crypto.getRandomValues(new Uint8Array(32))),
): Promise<{ orderId: Hex; order: EvmOrder }> {
  const renter = bed.wallet(renterIndex)
  const block = await bed.publicClient.getBlock()
  const order: EvmOrder = {
    renter: renter.account.address,
    token: d.token,
    providerId: keccak256(toHex('provider')),
    payout: bed.account(8).address,
    start: block.timestamp + 10n,
    slotLength: 60,
    slots: 10,
    gpu: encodeGpuRequirement(REFERENCE_ORDER_GPU),
    ...o,
  }
  const value = order.token === zeroAddress ? order.amount : 0n
  const hash = await renter.writeContract({
    address: d.escrow,
    abi: qantaraEscrowAbi,
    functionName: 'open',
    args: [order, salt],
    value,
  })
  const receipt = await bed.publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') throw new Error('open failed')
  const orderId = await bed.publicClient.readContract({
    address: d.escrow,
    abi: qantaraEscrowAbi,
    functionName: 'orderIdFor',
    args: [order.renter, salt],
  })
  return { orderId, order }
}

export async function signBy(signers: LocalAccount[], domain: EscrowDomain, s: EvmSettlement): Promise<Hex> {
  const signed = await Promise.all(
    signers.map(async (a) => ({ signer: a.address, signature: await signSettlement(a, domain, s) })),
  )
  return packSignatures(signed)
}
