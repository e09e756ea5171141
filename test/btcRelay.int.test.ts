import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  BaseError,
  concat,
  decodeErrorResult,
  encodeDeployData,
  getAddress,
  getContractAddress,
  keccak256,
  toHex,
  type Abi,
  type Address,
  type Hex,
  type LocalAccount,
} from 'viem'
import { compileContracts } from '../scripts/solc.mjs'
import { btcLightRelayAbi } from '../adapters/evm/contracts/artifacts/BtcLightRelay.js'
import { qantaraEscrowAbi, qantaraEscrowBytecode } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { toEvmBtcProof } from '../adapters/evm/codec.js'
import { deployBtcEscrow, deployBtcRelay, deployEscrow } from '../adapters/evm/deploy.js'
import { packSignatures, signRelayRetarget } from '../adapters/evm/eip712.js'
import { sha256d } from '../adapters/bitcoin/header.js'
import {
  headersWithRetarget,
  longHeaders,
  summaVectors,
  tbtcProof,
  tbtcProofs,
  bytes,
  type HeaderEntry,
} from '../devkit/btcVectors.js'
import { relayerKeys, startEvmTestbed, type EvmTestbed } from '../devkit/evmTestbed.js'
import { revertName } from './support/revert.js'
import type { SpvProof } from '../adapters/bitcoin/spvProof.js'
import { withoutWitness } from '../adapters/bitcoin/tx.js'

let bed: EvmTestbed
let harness: Address
let harnessAbi: Abi

const hexOf = (b: Uint8Array): Hex => toHex(b)
const chainHex = (entries: HeaderEntry[]): Hex => concat(entries.map((e) => e.hex as Hex))
const solidityProof = (p: SpvProof) =>
  toEvmBtcProof({ ...p, coinbase: withoutWitness(p.coinbase!), coinbaseMerkle: p.coinbaseMerkle! })
const read = (functionName: string, args: unknown[]) =>
  bed.publicClient.readContract({ address: harness, abi: harnessAbi, functionName, args })

beforeAll(async () => {
  bed = await startEvmTestbed()
  const lib = readFileSync('adapters/evm/contracts/BtcSpv.sol', 'utf8')
  const { BtcSpvHarness } = compileContracts({
    'BtcSpv.sol': lib,
    'BtcSpvHarness.sol': readFileSync('test/contracts/BtcSpvHarness.sol', 'utf8'),
  })
  harnessAbi = BtcSpvHarness!.abi as Abi
  const hash = await bed.wallet(0).deployContract({ abi: harnessAbi, bytecode: BtcSpvHarness!.bytecode })
  harness = (await bed.publicClient.waitForTransactionReceipt({ hash })).contractAddress!
})
afterAll(() => bed?.stop())

describe('BtcSpv in Solidity, on mainnet data', () => {
  it('proves both tbtc payouts and returns their txids', async () => {
    for (const p of [
      tbtcProofs.transactionConfirmationsInOneEpochData,
      tbtcProofs.transactionConfirmationsInTwoEpochsData,
    ]) {
      expect(await read('verifyInclusion', [solidityProof(tbtcProof(p))])).toBe(
        toHex(bytes(p.transaction.transactionHash).reverse()),
      )
    }
  })

  it("refuses corrupted proofs with the library's custom errors", async () => {
    const p = tbtcProof(tbtcProofs.transactionConfirmationsInOneEpochData)
    const bad = (q: SpvProof) => revertName(() => read('verifyInclusion', [solidityProof(q)]))
    expect(
      await bad({
        ...p,
        merkle: p.merkle.map((m, i) => (i === 3 ? Uint8Array.from([0xff, ...m.slice(1)]) : m)),
      }),
    ).toBe('MerkleMismatch')
    expect(await bad({ ...p, coinbaseMerkle: p.coinbaseMerkle!.slice(1) })).toBe('MerkleMismatch')
    expect(await bad({ ...p, coinbase: p.tx })).toBe('BadCoinbase')
    expect(await bad({ ...p, txIndex: 2 ** p.merkle.length })).toBe('BadMerkleIndex')
    expect(await bad({ ...p, txIndex: 0 })).toBe('BadMerkleIndex')
    expect(await bad({ ...p, tx: new Uint8Array(64) })).toBe('Tx64Bytes')
    expect(await bad({ ...p, merkle: [] })).toBe('BadMerkleIndex')
  })

  it("refuses the phantom duplicate of an odd level's last node (CVE-2012-2459) and accepts the genuine one", async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((x) => sha256d(Buffer.from(x)))
    const ab = sha256d(Buffer.concat([a!, b!]))
    const root = hexOf(sha256d(Buffer.concat([ab, sha256d(Buffer.concat([c!, c!]))])))
    const siblings = concat([hexOf(c!), hexOf(ab)])
    expect(await read('verifyMerkle', [hexOf(c!), siblings, 2n, root])).toBe(2n)
    expect(await revertName(() => read('verifyMerkle', [hexOf(c!), siblings, 3n, root]))).toBe(
      'PhantomDuplicate',
    )
  })

  it('reads outputs: the amount paid to a script, and whether the order tag is there', async () => {
    const p = tbtcProofs.transactionConfirmationsInOneEpochData
    const tx = hexOf(tbtcProof(p).tx)
    const [paid, tagged] = (await read('scanOutputs', [
      tx,
      keccak256('0x76a914b00de0cc7b5e518f7d1e43d6e5ecbd52e0cd0c2f88ac'),
      `0x${'00'.repeat(32)}`,
    ])) as [bigint, boolean]
    expect([paid, tagged]).toEqual([12_614_691n, false])
    expect(
      await revertName(() => read('scanOutputs', [`${tx}00`, keccak256('0x00'), `0x${'00'.repeat(32)}`])),
    ).toBe('BadTx')
  })

  it('checks header links and work, and computes every real retarget exactly', async () => {
    expect(await read('checkChain', [chainHex(longHeaders.chain)])).toBe(198n)
    const swapped = [longHeaders.chain[1]!, longHeaders.chain[0]!]
    expect(await revertName(() => read('checkChain', [chainHex(swapped)]))).toBe('BadLink')
    const weak = chainHex(longHeaders.chain.slice(0, 2)).slice(0, -2) + 'ff'
    expect(await revertName(() => read('checkChain', [weak]))).toBe('InsufficientWork')
    expect(await revertName(() => read('checkChain', [`${chainHex(longHeaders.chain.slice(0, 1))}00`]))).toBe(
      'BadHeaderLength',
    )
    for (const {
      input: [first, last, next],
    } of summaVectors.retargetAlgorithm) {
      const bitsOf = (hex: string) => Buffer.from(bytes(hex).slice(72, 76)).readUInt32LE()
      const timeOf = (hex: string) => BigInt(Buffer.from(bytes(hex).slice(68, 72)).readUInt32LE())
      expect(await read('retargetBits', [bitsOf(last!.hex), timeOf(first!.hex), timeOf(last!.hex)])).toBe(
        bitsOf(next!.hex),
      )
    }
  })
})

describe('BtcLightRelay', () => {
  /** A relay whose "escrow", the one caller it takes retargets from, is anvil account 1, so its rules are tested alone. */
  async function relay(
    network: 'mainnet' | 'regtest',
    genesis: HeaderEntry,
    height: number,
    proofLength: number,
  ): Promise<Address> {
    const address = await deployBtcRelay(bed.wallet(0), bed.publicClient, network, bed.account(1).address)
    const { request } = await bed.publicClient.simulateContract({
      account: bed.account(0),
      address,
      abi: btcLightRelayAbi,
      functionName: 'genesis',
      args: [genesis.hex as Hex, BigInt(height), BigInt(proofLength)],
    })
    await bed.publicClient.waitForTransactionReceipt({ hash: await bed.wallet(0).writeContract(request) })
    return address
  }
  const retarget = (address: Address, entries: HeaderEntry[], from = 1) =>
    bed.publicClient.simulateContract({
      account: bed.account(from),
      address,
      abi: btcLightRelayAbi,
      functionName: 'retarget',
      args: [chainHex(entries)],
    })
  const validate = (address: Address, entries: HeaderEntry[]) =>
    bed.publicClient.readContract({
      address,
      abi: btcLightRelayAbi,
      functionName: 'validateChain',
      args: [chainHex(entries)],
    })

  it('moves to the next epoch on the real 741888 retarget, then proves chains in either epoch', async () => {
    const address = await relay('mainnet', longHeaders.epochStart, longHeaders.epochStart.height, 6)
    const chain = longHeaders.chain
    expect(await validate(address, chain.slice(80, 86))).toBe(6n)
    expect(await revertName(() => validate(address, chain.slice(95, 101)))).toBe('UnexpectedBits')
    expect(await revertName(() => retarget(address, chain.slice(89, 101), 2))).toBe('NotAuthorized')
    const { request } = await retarget(address, chain.slice(89, 101))
    await bed.publicClient.waitForTransactionReceipt({ hash: await bed.wallet(1).writeContract(request) })
    expect(
      await bed.publicClient.readContract({
        address,
        abi: btcLightRelayAbi,
        functionName: 'epochBits',
        args: [368n],
      }),
    ).toBe(0x170984cc)
    expect(await validate(address, chain.slice(95, 101))).toBe(6n)
    expect(await validate(address, chain.slice(90, 96))).toBe(6n)
    expect(await validate(address, chain.slice(80, 86))).toBe(6n)
    expect(await revertName(() => retarget(address, chain.slice(89, 101)))).toBe('UnexpectedBits')
  })

  it('takes a retarget from its escrow alone, even from its owner, and none whose boundary headers are dated over 2 hours ahead of the chain', async () => {
    const address = await relay('mainnet', longHeaders.epochStart, longHeaders.epochStart.height, 6)
    const headers = longHeaders.chain.slice(89, 101)
    for (const from of [0, 2])
      expect(await revertName(() => retarget(address, headers, from))).toBe('NotAuthorized')
    // The epoch's last header (741887) and the next's first (741888) set the new bits and the next window's start.
    const latest = Math.max(
      ...headers.slice(5, 7).map((h) => Buffer.from(bytes(h.hex).slice(68, 72)).readUInt32LE()),
    )
    const setTime = async (t: number) => {
      await bed.testClient.request({ method: 'evm_setTime', params: [t] } as never)
      await bed.testClient.mine({ blocks: 1 })
    }
    try {
      await setTime(latest - 7_200 - 600)
      expect(await revertName(() => retarget(address, headers))).toBe('HeaderFromTheFuture')
      await setTime(latest - 7_200 + 600)
      const { request } = await retarget(address, headers)
      await bed.publicClient.waitForTransactionReceipt({ hash: await bed.wallet(1).writeContract(request) })
      expect(
        await bed.publicClient.readContract({ address, abi: btcLightRelayAbi, functionName: 'currentEpoch' }),
      ).toBe(368n)
    } finally {
      await setTime(Math.floor(Date.now() / 1000))
    }
  })

  it('refuses retargets with the wrong window, and one computed from the wrong epoch start', async () => {
    const chain = headersWithRetarget.chain
    const address = await relay(
      'mainnet',
      headersWithRetarget.oldPeriodStart,
      headersWithRetarget.oldPeriodStart.height,
      4,
    )
    expect(await revertName(() => retarget(address, chain.slice(5, 12)))).toBe('WrongHeaderCount')
    expect(await revertName(() => retarget(address, chain.slice(6, 14)))).toBe('UnexpectedBits')
    expect(await revertName(() => retarget(address, chain.slice(4, 12)))).toBe('UnexpectedBits')
    await retarget(address, chain.slice(5, 13))
    const wrongStart = await relay('mainnet', chain[0]!, headersWithRetarget.oldPeriodStart.height, 4)
    expect(await revertName(() => retarget(wrongStart, chain.slice(5, 13)))).toBe('UnexpectedBits')
  })

  it("is anchored at an epoch's first header on mainnet, and never retargets on regtest", async () => {
    await expect(relay('mainnet', longHeaders.chain[0]!, longHeaders.chain[0]!.height, 6)).rejects.toThrow(
      /GenesisNotAtEpochStart/,
    )
    const regtest = await relay('regtest', longHeaders.chain[0]!, longHeaders.chain[0]!.height, 6)
    expect(
      await bed.publicClient.readContract({
        address: regtest,
        abi: btcLightRelayAbi,
        functionName: 'network',
      }),
    ).toBe(1)
    expect(await revertName(() => retarget(regtest, longHeaders.chain.slice(89, 101)))).toBe(
      'NoRetargetOnRegtest',
    )
  })
})

describe('QantaraEscrow and its light relay (security review #11)', () => {
  const relayers = relayerKeys(3)
  const escrowParameters = {
    relayers: relayers.map((r) => r.address),
    threshold: 2,
    maxFeeBps: 500,
    reclaimGrace: 3600n,
  }
  const genesis = {
    header: longHeaders.epochStart.hex as Hex,
    height: longHeaders.epochStart.height,
    proofLength: 6,
  }
  const headers = chainHex(longHeaders.chain.slice(89, 101))
  const market = () =>
    deployBtcEscrow(bed.wallet(0), bed.publicClient, {
      ...escrowParameters,
      btc: { network: 'mainnet', confirmations: 6, genesis },
    })
  /** `signers`' approvals of `approved` as the retarget out of `epoch`, packed as the escrow takes them. */
  const approvals = async (
    m: { escrow: Address; relay: Address },
    signers: LocalAccount[],
    approved = headers,
    epoch = 367n,
  ) =>
    packSignatures(
      await Promise.all(
        signers.map(async (r) => ({
          signer: r.address,
          signature: await signRelayRetarget(
            r,
            { chainId: 31337, escrow: m.escrow },
            { relay: m.relay, epoch, headersHash: keccak256(approved) },
          ),
        })),
      ),
    )
  const retargetRelay = (m: { escrow: Address }, signatures: Hex) =>
    bed.publicClient.simulateContract({
      account: bed.account(5),
      address: m.escrow,
      abi: qantaraEscrowAbi,
      functionName: 'retargetRelay',
      args: [headers, signatures],
    })
  const epochOf = (m: { relay: Address }) =>
    bed.publicClient.readContract({ address: m.relay, abi: btcLightRelayAbi, functionName: 'currentEpoch' })

  it('one relayer cannot retarget: not at the relay, not through the escrow alone, nor with approvals of other headers, another epoch or a stranger', async () => {
    const m = await market()
    expect(
      await bed.publicClient.readContract({
        address: m.relay,
        abi: btcLightRelayAbi,
        functionName: 'escrow',
      }),
    ).toBe(getAddress(m.escrow))
    for (const account of [relayers[0]!, bed.account(0)]) {
      expect(
        await revertName(() =>
          bed.publicClient.simulateContract({
            account,
            address: m.relay,
            abi: btcLightRelayAbi,
            functionName: 'retarget',
            args: [headers],
          }),
        ),
      ).toBe('NotAuthorized')
    }
    expect(await revertName(() => retargetRelay(m, '0x'))).toBe('NotEnoughSignatures')
    expect(await revertName(async () => retargetRelay(m, await approvals(m, relayers.slice(0, 1))))).toBe(
      'NotEnoughSignatures',
    )
    const one = await approvals(m, relayers.slice(0, 1))
    expect(await revertName(() => retargetRelay(m, concat([one, one])))).toBe('DuplicateSigner')
    expect(
      await revertName(async () =>
        retargetRelay(
          m,
          await approvals(m, relayers.slice(0, 2), chainHex(longHeaders.chain.slice(88, 100))),
        ),
      ),
    ).toBe('NotRelayer')
    expect(
      await revertName(async () => retargetRelay(m, await approvals(m, relayers.slice(0, 2), headers, 368n))),
    ).toBe('NotRelayer')
    expect(
      await revertName(async () => retargetRelay(m, await approvals(m, [relayers[0]!, ...relayerKeys(1)]))),
    ).toBe('NotRelayer')
    expect(await epochOf(m)).toBe(367n)
  })

  it('a quorum does: 2 of 3 approvals of the real 741888 retarget move the relay, once', async () => {
    const m = await market()
    const signatures = await approvals(m, relayers.slice(1, 3))
    const { request } = await retargetRelay(m, signatures)
    await bed.publicClient.waitForTransactionReceipt({ hash: await bed.wallet(5).writeContract(request) })
    expect(await epochOf(m)).toBe(368n)
    expect(
      await bed.publicClient.readContract({
        address: m.relay,
        abi: btcLightRelayAbi,
        functionName: 'epochBits',
        args: [368n],
      }),
    ).toBe(0x170984cc)
    expect(
      await bed.publicClient.readContract({
        address: m.relay,
        abi: btcLightRelayAbi,
        functionName: 'validateChain',
        args: [chainHex(longHeaders.chain.slice(95, 101))],
      }),
    ).toBe(6n)
    // The same approvals were for epoch 367: they move nothing now.
    expect(await revertName(() => retargetRelay(m, signatures))).toBe('NotRelayer')
  })

  it('an escrow refuses a relay on another network than it expects, and one that takes retargets from anyone else', async () => {
    const from = bed.account(0).address
    /** What deploying the escrow with `relay` and `network` would revert with, from the address the deployer's next nonce gives. */
    const deployRevert = async (relay: Address, network: 0 | 1) => {
      const data = encodeDeployData({
        abi: qantaraEscrowAbi,
        bytecode: qantaraEscrowBytecode,
        args: [relayers.map((r) => r.address).sort(), 2, 500, 3600n, relay, network, 6, 937_500_000n],
      })
      try {
        await bed.publicClient.call({ account: from, data })
      } catch (err) {
        // The node's answer carries the revert data (an RpcRequestError under viem's CallExecutionError).
        const rpc = (err as BaseError).walk((e) => typeof (e as { data?: unknown }).data === 'string') as {
          data: Hex
        } | null
        return decodeErrorResult({ abi: qantaraEscrowAbi, data: rpc!.data })
      }
      throw new Error('the escrow deployed')
    }
    const nextEscrow = async (skip: number) =>
      getContractAddress({
        from,
        nonce: BigInt(
          (await bed.publicClient.getTransactionCount({ address: from, blockTag: 'pending' })) + skip,
        ),
      })
    // A regtest relay bound to the escrow deployed next: refused by an escrow that expects mainnet, and the deployment itself fails.
    const regtest = await deployBtcRelay(bed.wallet(0), bed.publicClient, 'regtest', await nextEscrow(1))
    const wrongNetwork = await deployRevert(regtest, 0)
    expect([wrongNetwork.errorName, wrongNetwork.args]).toEqual(['WrongBtcNetwork', [0, 1]])
    await expect(
      deployEscrow(bed.wallet(0), bed.publicClient, {
        ...escrowParameters,
        btc: { relay: regtest, network: 'mainnet', confirmations: 6 },
      }),
    ).rejects.toThrow('the escrow refuses this deployment: WrongBtcNetwork(0, 1)')
    // A mainnet relay bound to another address (one relayer's key): refused, whatever it is.
    const elsewhere = await deployBtcRelay(bed.wallet(0), bed.publicClient, 'mainnet', relayers[0]!.address)
    const notBound = await deployRevert(elsewhere, 0)
    expect([notBound.errorName, notBound.args]).toEqual(['RelayNotBoundHere', [relayers[0]!.address]])
    // Named as what it is, the regtest relay bound to the next escrow is taken (a devnet's setup).
    const devnet = await deployBtcRelay(bed.wallet(0), bed.publicClient, 'regtest', await nextEscrow(1))
    const escrow = await deployEscrow(bed.wallet(0), bed.publicClient, {
      ...escrowParameters,
      btc: { relay: devnet, network: 'regtest', confirmations: 6 },
    })
    expect(
      await bed.publicClient.readContract({
        address: escrow,
        abi: qantaraEscrowAbi,
        functionName: 'btcRelay',
      }),
    ).toBe(getAddress(devnet))
  })
})
