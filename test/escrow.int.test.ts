import { REFERENCE_GPU_WORD } from '../devkit/gpu/referenceGpu.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  BaseError,
  ContractFunctionRevertedError,
  concat,
  keccak256,
  sliceHex,
  toHex,
  zeroAddress,
  type Hex,
  type LocalAccount,
} from 'viem'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { testTokenAbi } from '../adapters/evm/contracts/artifacts/TestToken.js'
import { signRelayerSetUpdate, packSignatures } from '../adapters/evm/eip712.js'
import type { EvmOrder, EvmSettlement } from '../adapters/evm/codec.js'
import {
  deployMarket,
  fund,
  openOrder,
  relayerKeys,
  signBy,
  startEvmTestbed,
  type Deployment,
  type EvmTestbed,
} from '../devkit/evmTestbed.js'
import { revertName } from './support/revert.js'

let bed: EvmTestbed
let d: Deployment
let relayers: LocalAccount[]
const RENTER = 1
const FEE_RECIPIENT = '0x000000000000000000000000000000000000fee5' as const

beforeAll(async () => {
  bed = await startEvmTestbed()
  relayers = relayerKeys(3)
  d = await deployMarket(bed, relayers, 2)
  await fund(bed, d, RENTER, 10n ** 12n)
})
afterAll(() => bed?.stop())

const balance = (who: `0x${string}`) =>
  bed.publicClient.readContract({
    address: d.token,
    abi: testTokenAbi,
    functionName: 'balanceOf',
    args: [who],
  })

function split(orderId: Hex, order: EvmOrder, up: number, fee = 1_000n): EvmSettlement {
  const toProvider = ((order.amount - fee) * BigInt(up)) / BigInt(order.slots)
  return {
    orderId,
    toProvider,
    toRenter: order.amount - fee - toProvider,
    fee,
    feeRecipient: FEE_RECIPIENT,
    upSlots: up,
    totalSlots: order.slots,
    heartbeatRoot: keccak256(toHex('heartbeats')),
  }
}

function settle(order: EvmOrder, s: EvmSettlement, sigs: Hex) {
  return bed.publicClient.simulateContract({
    account: bed.account(5),
    address: d.escrow,
    abi: qantaraEscrowAbi,
    functionName: 'settle',
    args: [order, s, sigs],
  })
}

async function settleForReal(order: EvmOrder, s: EvmSettlement, sigs: Hex) {
  const { request } = await settle(order, s, sigs)
  const receipt = await bed.publicClient.waitForTransactionReceipt({
    hash: await bed.wallet(5).writeContract(request),
  })
  expect(receipt.status).toBe('success')
  return receipt
}

describe('QantaraEscrow settle', () => {
  it('pays exactly the split signed by 2 of 3 relayers, and only once', async () => {
    const { orderId, order } = await openOrder(bed, d, RENTER, { amount: 1_000_000n })
    const s = split(orderId, order, 7)
    const sigs = await signBy([relayers[0]!, relayers[2]!], d.domain, s)
    const before = {
      provider: await balance(order.payout),
      renter: await balance(order.renter),
      fee: await balance(FEE_RECIPIENT),
    }
    await settleForReal(order, s, sigs)
    expect(await balance(order.payout)).toBe(before.provider + 699_300n)
    expect(await balance(order.renter)).toBe(before.renter + 299_700n)
    expect(await balance(FEE_RECIPIENT)).toBe(before.fee + 1_000n)
    expect(
      await bed.publicClient.readContract({
        address: d.escrow,
        abi: qantaraEscrowAbi,
        functionName: 'orderState',
        args: [orderId],
      }),
    ).toBe(toHex(1, { size: 32 }))
    expect(await revertName(() => settle(order, s, sigs))).toBe('AlreadySettled')
  })

  it('pays a native-ETH order to the payout address', async () => {
    const { orderId, order } = await openOrder(bed, d, RENTER, { amount: 10n ** 18n, token: zeroAddress })
    const s = split(orderId, order, 10, 0n)
    const before = await bed.publicClient.getBalance({ address: order.payout })
    await settleForReal(order, s, await signBy(relayers.slice(0, 2), d.domain, s))
    expect(await bed.publicClient.getBalance({ address: order.payout })).toBe(before + 10n ** 18n)
  })

  it('refuses a settlement signed by only 1 of 3', async () => {
    const { orderId, order } = await openOrder(bed, d, RENTER, { amount: 1_000_000n })
    const s = split(orderId, order, 5)
    expect(await revertName(async () => settle(order, s, await signBy([relayers[1]!], d.domain, s)))).toBe(
      'NotEnoughSignatures',
    )
  })

  it('refuses a signature from a key outside the relayer set', async () => {
    const { orderId, order } = await openOrder(bed, d, RENTER, { amount: 1_000_000n })
    const s = split(orderId, order, 5)
    const outsider = relayerKeys(1)[0]!
    expect(
      await revertName(async () => settle(order, s, await signBy([relayers[0]!, outsider], d.domain, s))),
    ).toBe('NotRelayer')
  })

  it('refuses the same signer twice', async () => {
    const { orderId, order } = await openOrder(bed, d, RENTER, { amount: 1_000_000n })
    const s = split(orderId, order, 5)
    const one = await signBy([relayers[0]!], d.domain, s)
    expect(await revertName(() => settle(order, s, concat([one, one])))).toBe('DuplicateSigner')
  })

  it('refuses signers in descending order', async () => {
    const { orderId, order } = await openOrder(bed, d, RENTER, { amount: 1_000_000n })
    const s = split(orderId, order, 5)
    const a = await signBy([relayers[0]!], d.domain, s)
    const b = await signBy([relayers[1]!], d.domain, s)
    expect(await revertName(() => settle(order, s, concat([b, a])))).toBe('SignersNotAscending')
  })

  it('refuses a settlement whose amounts differ from what was signed', async () => {
    const { orderId, order } = await openOrder(bed, d, RENTER, { amount: 1_000_000n })
    const s = split(orderId, order, 5)
    const sigs = await signBy(relayers.slice(0, 2), d.domain, s)
    const tampered = { ...s, toProvider: s.toProvider + 1n, toRenter: s.toRenter - 1n }
    expect(await revertName(() => settle(order, tampered, sigs))).toBe('NotRelayer')
  })

  it('refuses signatures made for another chain id or another contract', async () => {
    const { orderId, order } = await openOrder(bed, d, RENTER, { amount: 1_000_000n })
    const s = split(orderId, order, 5)
    const otherChain = await signBy(relayers.slice(0, 2), { ...d.domain, chainId: 1 }, s)
    const otherContract = await signBy(relayers.slice(0, 2), { ...d.domain, escrow: d.token }, s)
    expect(await revertName(() => settle(order, s, otherChain))).toBe('NotRelayer')
    expect(await revertName(() => settle(order, s, otherContract))).toBe('NotRelayer')
  })

  it('refuses a high-s signature even though it recovers the same signer', async () => {
    const { orderId, order } = await openOrder(bed, d, RENTER, { amount: 1_000_000n })
    const s = split(orderId, order, 5)
    const sig = await signBy([relayers[0]!], d.domain, s)
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    const flipped = concat([
      sliceHex(sig, 0, 32),
      toHex(n - BigInt(sliceHex(sig, 32, 64)), { size: 32 }),
      sliceHex(sig, 64) === '0x1b' ? '0x1c' : '0x1b',
    ])
    const second = await signBy([relayers[1]!], d.domain, s)
    const sigs =
      BigInt(relayers[0]!.address) < BigInt(relayers[1]!.address)
        ? concat([flipped, second])
        : concat([second, flipped])
    expect(await revertName(() => settle(order, s, sigs))).toBe('HighS')
  })

  it('refuses a split that does not sum to the amount, and a fee above the cap', async () => {
    const { orderId, order } = await openOrder(bed, d, RENTER, { amount: 1_000_000n })
    const short = { ...split(orderId, order, 5), toRenter: 0n }
    expect(
      await revertName(async () => settle(order, short, await signBy(relayers.slice(0, 2), d.domain, short))),
    ).toBe('SplitMismatch')
    const greedy = split(orderId, order, 5, 50_001n)
    expect(
      await revertName(async () =>
        settle(order, greedy, await signBy(relayers.slice(0, 2), d.domain, greedy)),
      ),
    ).toBe('FeeTooHigh')
  })

  it('refuses terms that differ from the order that was opened', async () => {
    const { orderId, order } = await openOrder(bed, d, RENTER, { amount: 1_000_000n })
    const s = split(orderId, order, 5)
    const sigs = await signBy(relayers.slice(0, 2), d.domain, s)
    expect(await revertName(() => settle({ ...order, payout: bed.account(7).address }, s, sigs))).toBe(
      'OrderMismatch',
    )
  })
})

describe('QantaraEscrow open', () => {
  it('refuses to open the same renter and salt twice', async () => {
    const salt = keccak256(toHex('same salt'))
    await openOrder(bed, d, RENTER, { amount: 50n }, salt)
    expect(await revertName(() => openOrder(bed, d, RENTER, { amount: 50n }, salt))).toBe('OrderExists')
  })

  it('gives two renters using the same salt different order ids', async () => {
    const salt = keccak256(toHex('shared salt'))
    await fund(bed, d, 2, 100n)
    const a = await openOrder(bed, d, RENTER, { amount: 50n }, salt)
    const b = await openOrder(bed, d, 2, { amount: 50n }, salt)
    expect(a.orderId).not.toBe(b.orderId)
  })

  it('refuses native value that differs from the amount', async () => {
    const block = await bed.publicClient.getBlock()
    const order: EvmOrder = {
      renter: bed.account(RENTER).address,
      token: zeroAddress,
      amount: 100n,
      providerId: keccak256('0x01'),
      payout: bed.account(8).address,
      start: block.timestamp,
      slotLength: 60,
      slots: 1,
      gpu: REFERENCE_GPU_WORD,
    }
    expect(
      await revertName(() =>
        bed.publicClient.simulateContract({
          account: bed.account(RENTER),
          address: d.escrow,
          abi: qantaraEscrowAbi,
          functionName: 'open',
          args: [order, keccak256('0x02')],
          value: 99n,
        }),
      ),
    ).toBe('WrongValue')
  })
})

describe('QantaraEscrow order bounds', () => {
  const attempt = async (o: Partial<EvmOrder>) => {
    const block = await bed.publicClient.getBlock()
    const order: EvmOrder = {
      renter: bed.account(RENTER).address,
      token: zeroAddress,
      amount: 10n ** 9n,
      providerId: keccak256('0x01'),
      payout: bed.account(8).address,
      start: block.timestamp,
      slotLength: 60,
      slots: 10,
      gpu: REFERENCE_GPU_WORD,
      ...o,
    }
    return bed.publicClient.simulateContract({
      account: bed.account(RENTER),
      address: d.escrow,
      abi: qantaraEscrowAbi,
      functionName: 'open',
      args: [
        order,
        keccak256(toHex(JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))),
      ],
      value: order.amount,
    })
  }
  const reason = async (o: Partial<EvmOrder>) => {
    try {
      await attempt(o)
      return 'accepted'
    } catch (err) {
      const reverted =
        err instanceof BaseError ? err.walk((e) => e instanceof ContractFunctionRevertedError) : undefined
      if (!(reverted instanceof ContractFunctionRevertedError)) throw err
      return `${reverted.data?.errorName}: ${String(reverted.data?.args?.[0])}`
    }
  }

  it('refuses the crash order: 1 wei for ~1.8e9 one-second slots from 1970 that end in a minute', async () => {
    const now = (await bed.publicClient.getBlock()).timestamp
    expect(await reason({ start: 0n, slotLength: 1, slots: Number(now) + 60, amount: 1n })).toContain(
      'too many slots',
    )
  })

  it('holds every bound at its edge: 100,000 slots, one-day slots, 366 days in all, one unit per slot', async () => {
    const start = (await bed.publicClient.getBlock()).timestamp
    expect(await reason({ start, slots: 100_000, slotLength: 1, amount: 100_000n })).toBe('accepted')
    expect(await reason({ start, slots: 100_001, slotLength: 1, amount: 100_001n })).toContain(
      'too many slots',
    )
    expect(await reason({ start, slots: 1, slotLength: 86_400 })).toBe('accepted')
    expect(await reason({ start, slots: 1, slotLength: 86_401 })).toContain('slot too long')
    expect(await reason({ start, slots: 366, slotLength: 86_400 })).toBe('accepted')
    expect(await reason({ start, slots: 367, slotLength: 86_400 })).toContain('order too long')
    expect(await reason({ start, slots: 10, amount: 9n })).toContain('amount below one unit per slot')
  })
})

describe('QantaraEscrow reclaim', () => {
  it('refunds everything after end plus grace, never before, and then refuses to settle', async () => {
    const { orderId, order } = await openOrder(bed, d, RENTER, { amount: 777n, slots: 2, slotLength: 60 })
    const reclaim = () =>
      bed.publicClient.simulateContract({
        account: bed.account(6),
        address: d.escrow,
        abi: qantaraEscrowAbi,
        functionName: 'reclaim',
        args: [orderId, order],
      })
    expect(await revertName(reclaim)).toBe('DeadlineNotReached')
    await bed.testClient.setNextBlockTimestamp({ timestamp: order.start + 120n + 3600n - 1n })
    await bed.testClient.mine({ blocks: 1 })
    expect(await revertName(reclaim)).toBe('DeadlineNotReached')
    await bed.testClient.setNextBlockTimestamp({ timestamp: order.start + 120n + 3600n })
    await bed.testClient.mine({ blocks: 1 })
    const before = await balance(order.renter)
    const { request } = await reclaim()
    await bed.publicClient.waitForTransactionReceipt({ hash: await bed.wallet(6).writeContract(request) })
    expect(await balance(order.renter)).toBe(before + 777n)
    const s = split(orderId, order, 2, 0n)
    expect(
      await revertName(async () => settle(order, s, await signBy(relayers.slice(0, 2), d.domain, s))),
    ).toBe('AlreadyRefunded')
    expect(await revertName(reclaim)).toBe('AlreadyRefunded')
  })
})

describe('QantaraEscrow relayer set', () => {
  it('rotates with a quorum of the current set, then refuses the old set and the replayed update', async () => {
    const next = relayerKeys(3)
    const members = next.map((r) => r.address)
    const update = { version: 2n, members, threshold: 2 }
    const sign = (signers: LocalAccount[]) =>
      Promise.all(
        signers.map(async (a) => ({
          signer: a.address,
          signature: await signRelayerSetUpdate(a, d.domain, update),
        })),
      )
    const rotate = (sigs: Hex) =>
      bed.publicClient.simulateContract({
        account: bed.account(5),
        address: d.escrow,
        abi: qantaraEscrowAbi,
        functionName: 'rotateRelayers',
        args: [members, 2, sigs],
      })

    expect(await revertName(async () => rotate(packSignatures(await sign(next.slice(0, 2)))))).toBe(
      'NotRelayer',
    )
    const sigs = packSignatures(await sign(relayers.slice(1, 3)))
    const { request } = await rotate(sigs)
    await bed.publicClient.waitForTransactionReceipt({ hash: await bed.wallet(5).writeContract(request) })
    const [version, current, threshold] = await bed.publicClient.readContract({
      address: d.escrow,
      abi: qantaraEscrowAbi,
      functionName: 'relayerSet',
    })
    expect([version, current, threshold]).toEqual([2n, members, 2])
    expect(await revertName(() => rotate(sigs))).toBe('NotRelayer')

    const { orderId, order } = await openOrder(bed, d, RENTER, { amount: 1_000_000n })
    const s = split(orderId, order, 10)
    expect(
      await revertName(async () => settle(order, s, await signBy(relayers.slice(0, 2), d.domain, s))),
    ).toBe('NotRelayer')
    await settleForReal(order, s, await signBy(next.slice(0, 2), d.domain, s))
    relayers = next
  })

  it('refuses a set whose threshold exceeds its size', async () => {
    const members = relayerKeys(2).map((r) => r.address)
    const update = { version: 3n, members, threshold: 3 }
    const sigs = packSignatures(
      await Promise.all(
        relayers.slice(0, 2).map(async (a) => ({
          signer: a.address,
          signature: await signRelayerSetUpdate(a, d.domain, update),
        })),
      ),
    )
    expect(
      await revertName(() =>
        bed.publicClient.simulateContract({
          account: bed.account(5),
          address: d.escrow,
          abi: qantaraEscrowAbi,
          functionName: 'rotateRelayers',
          args: [members, 3, sigs],
        }),
      ),
    ).toBe('InvalidRelayerSet')
  })
})
