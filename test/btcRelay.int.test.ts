import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { concat, keccak256, toHex, type Abi, type Address, type Hex } from 'viem'
import { compileContracts } from '../scripts/solc.mjs'
import { btcLightRelayAbi } from '../adapters/evm/contracts/artifacts/BtcLightRelay.js'
import { toEvmBtcProof } from '../adapters/evm/codec.js'
import { deployBtcRelay } from '../adapters/evm/deploy.js'
import { sha256d } from '../adapters/bitcoin/header.js'
import { headersWithRetarget, longHeaders, summaVectors, tbtcProof, tbtcProofs, bytes, type HeaderEntry } from './support/btcVectors.js'
import { startEvmTestbed, type EvmTestbed } from './support/evm.js'
import { revertName } from './support/revert.js'
import type { SpvProof } from '../adapters/bitcoin/spvProof.js'
import { withoutWitness } from '../adapters/bitcoin/tx.js'

let bed: EvmTestbed
let harness: Address
let harnessAbi: Abi

const hexOf = (b: Uint8Array): Hex => toHex(b)
const chainHex = (entries: HeaderEntry[]): Hex => concat(entries.map((e) => e.hex as Hex))
const solidityProof = (p: SpvProof) => toEvmBtcProof({ ...p, coinbase: withoutWitness(p.coinbase!), coinbaseMerkle: p.coinbaseMerkle! })
const read = (functionName: string, args: unknown[]) => bed.publicClient.readContract({ address: harness, abi: harnessAbi, functionName, args })

beforeAll(async () => {
  bed = await startEvmTestbed()
  const lib = readFileSync('adapters/evm/contracts/BtcSpv.sol', 'utf8')
  const { BtcSpvHarness } = compileContracts({ 'BtcSpv.sol': lib, 'BtcSpvHarness.sol': readFileSync('test/contracts/BtcSpvHarness.sol', 'utf8') })
  harnessAbi = BtcSpvHarness!.abi as Abi
  const hash = await bed.wallet(0).deployContract({ abi: harnessAbi, bytecode: BtcSpvHarness!.bytecode })
  harness = (await bed.publicClient.waitForTransactionReceipt({ hash })).contractAddress!
})
afterAll(() => bed?.stop())

describe('BtcSpv in Solidity, on mainnet data', () => {
  it('proves both tbtc payouts and returns their txids', async () => {
    for (const p of [tbtcProofs.transactionConfirmationsInOneEpochData, tbtcProofs.transactionConfirmationsInTwoEpochsData]) {
      expect(await read('verifyInclusion', [solidityProof(tbtcProof(p))])).toBe(toHex(bytes(p.transaction.transactionHash).reverse()))
    }
  })

  it('refuses corrupted proofs with the library\'s custom errors', async () => {
    const p = tbtcProof(tbtcProofs.transactionConfirmationsInOneEpochData)
    const bad = (q: SpvProof) => revertName(() => read('verifyInclusion', [solidityProof(q)]))
    expect(await bad({ ...p, merkle: p.merkle.map((m, i) => (i === 3 ? Uint8Array.from([0xff, ...m.slice(1)]) : m)) })).toBe('MerkleMismatch')
    expect(await bad({ ...p, coinbaseMerkle: p.coinbaseMerkle!.slice(1) })).toBe('MerkleMismatch')
    expect(await bad({ ...p, coinbase: p.tx })).toBe('BadCoinbase')
    expect(await bad({ ...p, txIndex: 2 ** p.merkle.length })).toBe('BadMerkleIndex')
    expect(await bad({ ...p, txIndex: 0 })).toBe('BadMerkleIndex')
    expect(await bad({ ...p, tx: new Uint8Array(64) })).toBe('Tx64Bytes')
    expect(await bad({ ...p, merkle: [] })).toBe('BadMerkleIndex')
  })

  it('refuses the phantom duplicate of an odd level\'s last node (CVE-2012-2459) and accepts the genuine one', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((x) => sha256d(Buffer.from(x)))
    const ab = sha256d(Buffer.concat([a!, b!]))
    const root = hexOf(sha256d(Buffer.concat([ab, sha256d(Buffer.concat([c!, c!]))])))
    const siblings = concat([hexOf(c!), hexOf(ab)])
    expect(await read('verifyMerkle', [hexOf(c!), siblings, 2n, root])).toBe(2n)
    expect(await revertName(() => read('verifyMerkle', [hexOf(c!), siblings, 3n, root]))).toBe('PhantomDuplicate')
  })

  it('reads outputs: the amount paid to a script, and whether the order tag is there', async () => {
    const p = tbtcProofs.transactionConfirmationsInOneEpochData
    const tx = hexOf(tbtcProof(p).tx)
    const [paid, tagged] = await read('scanOutputs', [tx, keccak256('0x76a914b00de0cc7b5e518f7d1e43d6e5ecbd52e0cd0c2f88ac'), `0x${'00'.repeat(32)}`]) as [bigint, boolean]
    expect([paid, tagged]).toEqual([12_614_691n, false])
    expect(await revertName(() => read('scanOutputs', [`${tx}00`, keccak256('0x00'), `0x${'00'.repeat(32)}`]))).toBe('BadTx')
  })

  it('checks header links and work, and computes every real retarget exactly', async () => {
    expect(await read('checkChain', [chainHex(longHeaders.chain)])).toBe(198n)
    const swapped = [longHeaders.chain[1]!, longHeaders.chain[0]!]
    expect(await revertName(() => read('checkChain', [chainHex(swapped)]))).toBe('BadLink')
    const weak = chainHex(longHeaders.chain.slice(0, 2)).slice(0, -2) + 'ff'
    expect(await revertName(() => read('checkChain', [weak]))).toBe('InsufficientWork')
    expect(await revertName(() => read('checkChain', [`${chainHex(longHeaders.chain.slice(0, 1))}00`]))).toBe('BadHeaderLength')
    for (const { input: [first, last, next] } of summaVectors.retargetAlgorithm) {
      const bitsOf = (hex: string) => Buffer.from(bytes(hex).slice(72, 76)).readUInt32LE()
      const timeOf = (hex: string) => BigInt(Buffer.from(bytes(hex).slice(68, 72)).readUInt32LE())
      expect(await read('retargetBits', [bitsOf(last!.hex), timeOf(first!.hex), timeOf(last!.hex)])).toBe(bitsOf(next!.hex))
    }
  })
})

describe('BtcLightRelay', () => {
  async function relay(network: 'mainnet' | 'regtest', genesis: HeaderEntry, height: number, proofLength: number): Promise<Address> {
    const address = await deployBtcRelay(bed.wallet(0), bed.publicClient, network)
    const write = async (functionName: 'genesis' | 'setAuthorized', args: readonly unknown[]) => {
      const { request } = await bed.publicClient.simulateContract({ account: bed.account(0), address, abi: btcLightRelayAbi, functionName, args } as never)
      await bed.publicClient.waitForTransactionReceipt({ hash: await bed.wallet(0).writeContract(request) })
    }
    await write('genesis', [genesis.hex, BigInt(height), BigInt(proofLength)])
    await write('setAuthorized', [bed.account(1).address, true])
    return address
  }
  const retarget = (address: Address, entries: HeaderEntry[], from = 1) =>
    bed.publicClient.simulateContract({ account: bed.account(from), address, abi: btcLightRelayAbi, functionName: 'retarget', args: [chainHex(entries)] })
  const validate = (address: Address, entries: HeaderEntry[]) => bed.publicClient.readContract({ address, abi: btcLightRelayAbi, functionName: 'validateChain', args: [chainHex(entries)] })

  it('moves to the next epoch on the real 741888 retarget, then proves chains in either epoch', async () => {
    const address = await relay('mainnet', longHeaders.epochStart, longHeaders.epochStart.height, 6)
    const chain = longHeaders.chain
    expect(await validate(address, chain.slice(80, 86))).toBe(6n)
    expect(await revertName(() => validate(address, chain.slice(95, 101)))).toBe('UnexpectedBits')
    expect(await revertName(() => retarget(address, chain.slice(89, 101), 2))).toBe('NotAuthorized')
    const { request } = await retarget(address, chain.slice(89, 101))
    await bed.publicClient.waitForTransactionReceipt({ hash: await bed.wallet(1).writeContract(request) })
    expect(await bed.publicClient.readContract({ address, abi: btcLightRelayAbi, functionName: 'epochBits', args: [368n] })).toBe(0x170984cc)
    expect(await validate(address, chain.slice(95, 101))).toBe(6n)
    expect(await validate(address, chain.slice(90, 96))).toBe(6n)
    expect(await validate(address, chain.slice(80, 86))).toBe(6n)
    expect(await revertName(() => retarget(address, chain.slice(89, 101)))).toBe('UnexpectedBits')
  })

  it('refuses retargets with the wrong window, and one computed from the wrong epoch start', async () => {
    const chain = headersWithRetarget.chain
    const address = await relay('mainnet', headersWithRetarget.oldPeriodStart, headersWithRetarget.oldPeriodStart.height, 4)
    expect(await revertName(() => retarget(address, chain.slice(5, 12)))).toBe('WrongHeaderCount')
    expect(await revertName(() => retarget(address, chain.slice(6, 14)))).toBe('UnexpectedBits')
    expect(await revertName(() => retarget(address, chain.slice(4, 12)))).toBe('UnexpectedBits')
    await retarget(address, chain.slice(5, 13))
    const wrongStart = await relay('mainnet', chain[0]!, headersWithRetarget.oldPeriodStart.height, 4)
    expect(await revertName(() => retarget(wrongStart, chain.slice(5, 13)))).toBe('UnexpectedBits')
  })

  it('is anchored at an epoch\'s first header on mainnet, and never retargets on regtest', async () => {
    await expect(relay('mainnet', longHeaders.chain[0]!, longHeaders.chain[0]!.height, 6)).rejects.toThrow(/GenesisNotAtEpochStart/)
    const regtest = await relay('regtest', longHeaders.chain[0]!, longHeaders.chain[0]!.height, 6)
    expect(await bed.publicClient.readContract({ address: regtest, abi: btcLightRelayAbi, functionName: 'network' })).toBe(1)
    expect(await revertName(() => retarget(regtest, longHeaders.chain.slice(89, 101)))).toBe('NoRetargetOnRegtest')
  })
})
