import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keccak256, toHex, zeroAddress, type Address, type Hex } from 'viem'
import { payments } from 'bitcoinjs-lib'
import { secp256k1 } from '@noble/curves/secp256k1'
import { startBtcd, type Btcd } from '../adapters/bitcoin/btcd.js'
import { REGTEST } from '../adapters/bitcoin/header.js'
import { buildSpvProof } from '../adapters/bitcoin/proofBuilder.js'
import { verifySpvProof, type SpvProof } from '../adapters/bitcoin/spvProof.js'
import { BtcWallet } from '../adapters/bitcoin/wallet.js'
import { btcLightRelayAbi } from '../adapters/evm/contracts/artifacts/BtcLightRelay.js'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { deployBtcRelay, deployEscrow } from '../adapters/evm/deploy.js'
import { signBtcQuote, sortAddresses } from '../adapters/evm/eip712.js'
import { toEvmBtcProof, type EvmOrder } from '../adapters/evm/codec.js'
import { BtcPayoutWatcher } from '../adapters/bitcoin/payoutWatcher.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { isQantaraError } from '../src/errors.js'
import type { ChainEvent } from '../src/chains.js'
import { relayerKeys, signBy, startEvmTestbed, type EvmTestbed } from './support/evm.js'
import { revertName } from './support/revert.js'

const CONFIRMATIONS = 6
let btcd: Btcd
let bed: EvmTestbed
let solver: BtcWallet
let escrow: Address
const relayers = relayerKeys(3)
const providerScript = Uint8Array.from(payments.p2wpkh({ pubkey: secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true) }).output!)
const RATE = 10n ** 6n // sats per 1e18 wei: 1 ETH = 0.01 BTC

const hexOf = (b: Uint8Array): Hex => toHex(b)
const onChain = (p: SpvProof) => toEvmBtcProof({ ...p, coinbase: p.coinbase!, coinbaseMerkle: p.coinbaseMerkle! })
const solverEvm = () => bed.account(7)

async function write(address: Address, abi: typeof qantaraEscrowAbi | typeof btcLightRelayAbi, functionName: string, args: readonly unknown[], from = 0, value = 0n) {
  const { request } = await bed.publicClient.simulateContract({ account: bed.account(from), address, abi, functionName, args, value } as never)
  const receipt = await bed.publicClient.waitForTransactionReceipt({ hash: await bed.wallet(from).writeContract(request as never) })
  if (receipt.status !== 'success') throw new Error(`${functionName} failed`)
  return receipt
}

/** Opens and settles a BTC-payout order for 1 ETH at 60% uptime: 0.6 ETH, i.e. 600,000 sats, owed to the provider. */
async function owedOrder(deadlineIn = 3_600n) {
  const block = await bed.publicClient.getBlock()
  const order: EvmOrder = { renter: bed.account(2).address, token: zeroAddress, amount: 10n ** 18n, providerId: keccak256(toHex('provider')), payout: bed.account(8).address, start: block.timestamp + 2n, slotLength: 1, slots: 10 }
  const salt = toHex(crypto.getRandomValues(new Uint8Array(32)))
  const orderId = await bed.publicClient.readContract({ address: escrow, abi: qantaraEscrowAbi, functionName: 'orderIdFor', args: [order.renter, salt] })
  const btc = { script: hexOf(providerScript), solver: solverEvm().address, satsPerE18: RATE, payoutDeadline: block.timestamp + deadlineIn }
  const domain = { chainId: 31337, escrow }
  const quote = await signBtcQuote(solverEvm(), domain, { orderId, scriptHash: keccak256(btc.script), solver: btc.solver, satsPerE18: RATE, payoutDeadline: btc.payoutDeadline })
  await write(escrow, qantaraEscrowAbi, 'openBtc', [order, btc, quote, salt], 2, order.amount)
  await bed.testClient.increaseTime({ seconds: 20 })
  await bed.testClient.mine({ blocks: 1 })
  const settlement = { orderId, toProvider: 6n * 10n ** 17n, toRenter: 4n * 10n ** 17n, fee: 0n, feeRecipient: zeroAddress, upSlots: 6, totalSlots: 10, heartbeatRoot: keccak256('0x01') }
  await write(escrow, qantaraEscrowAbi, 'settleBtc', [order, btc, settlement, await signBy(relayers.slice(0, 2), domain, settlement)])
  return { orderId, order, btc, toProvider: settlement.toProvider, sats: 600_000n }
}

async function payAndConfirm(outputs: { script: Uint8Array; value: bigint }[], tag: Hex, confirmations = CONFIRMATIONS) {
  const payment = solver.pay({ outputs, tag: Buffer.from(tag.slice(2), 'hex'), utxos: await btcd.rpc.listUnspent(solver.address), feeRate: 2 })
  await btcd.rpc.sendRawTransaction(payment.hex)
  const [blockHash] = await btcd.rpc.mine(confirmations)
  return { payment, blockHash: blockHash! }
}

beforeAll(async () => {
  solver = BtcWallet.fromKeyText(BtcWallet.generateWif('regtest'), 'regtest')
  btcd = await startBtcd({ miningAddress: solver.address })
  // Segwit activates on regtest after three 144-block windows; coinbases mature after 100.
  await btcd.rpc.mine(440)
  bed = await startEvmTestbed()
  const relay = await deployBtcRelay(bed.wallet(0), bed.publicClient, 'regtest')
  const tipHash = await btcd.rpc.getBlockHash(await btcd.rpc.getBlockCount())
  await write(relay, btcLightRelayAbi, 'genesis', [`0x${await btcd.rpc.getBlockHeaderHex(tipHash)}`, BigInt(await btcd.rpc.getBlockCount()), 6n])
  escrow = await deployEscrow(bed.wallet(0), bed.publicClient, { relayers: sortAddresses(relayers.map((r) => r.address)), threshold: 2, maxFeeBps: 500, reclaimGrace: 3600n, btcRelay: relay, btcConfirmations: CONFIRMATIONS })
}, 600_000)
afterAll(async () => {
  await btcd?.stop()
  await bed?.stop()
})

describe('BTC payouts: btcd regtest and anvil', () => {
  it('repays the solver against an SPV proof of its payout, built from the node', async () => {
    const o = await owedOrder()
    const { payment, blockHash } = await payAndConfirm([{ script: providerScript, value: o.sats }], o.orderId)
    const proof = await buildSpvProof(btcd.rpc, REGTEST, payment.txid, blockHash, CONFIRMATIONS)
    const verdict = verifySpvProof(proof, { params: REGTEST, requireCoinbase: true, minConfirmations: CONFIRMATIONS })
    expect(verdict.valid && verdict.txid).toBe(payment.txid)

    const before = await bed.publicClient.getBalance({ address: solverEvm().address })
    await write(escrow, qantaraEscrowAbi, 'proveBtcPayout', [o.orderId, o.order, o.btc, o.toProvider, onChain(proof)], 5)
    expect(await bed.publicClient.getBalance({ address: solverEvm().address })).toBe(before + o.toProvider)
    // The same payout again: the order is no longer owed.
    expect(await revertName(() => write(escrow, qantaraEscrowAbi, 'proveBtcPayout', [o.orderId, o.order, o.btc, o.toProvider, onChain(proof)], 5))).toBe('NotOwedInBtc')
  }, 120_000)

  it('refuses proofs of payments for another order, of less, or to another script, and one payout for two orders', async () => {
    const o = await owedOrder()
    const other = await owedOrder()
    const proofs = new Map<string, SpvProof>()
    const record = async (x: { payment: { txid: string }; blockHash: string }) => {
      proofs.set(x.payment.txid, await buildSpvProof(btcd.rpc, REGTEST, x.payment.txid, x.blockHash, CONFIRMATIONS))
      return x
    }
    const prove = (txid: string, target = o) =>
      revertName(() => write(escrow, qantaraEscrowAbi, 'proveBtcPayout', [target.orderId, target.order, target.btc, target.toProvider, onChain(proofs.get(txid)!)], 5))
    const wrongTag = await record(await payAndConfirm([{ script: providerScript, value: o.sats }], other.orderId.replace(/.$/, (c) => (c === '0' ? '1' : '0')) as Hex))
    expect(await prove(wrongTag.payment.txid)).toBe('PayoutNotTagged')
    const tooLittle = await record(await payAndConfirm([{ script: providerScript, value: o.sats - 1n }], o.orderId))
    expect(await prove(tooLittle.payment.txid)).toBe('PayoutTooSmall')
    const elsewhere = await record(await payAndConfirm([{ script: solver.script, value: o.sats }], o.orderId))
    expect(await prove(elsewhere.payment.txid)).toBe('PayoutTooSmall')
    const shallowPay = await payAndConfirm([{ script: providerScript, value: o.sats }], o.orderId, 1)
    await btcd.rpc.mine(CONFIRMATIONS - 1)
    const shallow = await record(shallowPay)
    const cut = { ...proofs.get(shallow.payment.txid)!, headers: proofs.get(shallow.payment.txid)!.headers.slice(0, CONFIRMATIONS - 1) }
    expect(await revertName(() => write(escrow, qantaraEscrowAbi, 'proveBtcPayout', [o.orderId, o.order, o.btc, o.toProvider, onChain(cut)], 5))).toBe('NotEnoughConfirmations')
    // The good payment for `o` proves `o`, and is then spent: it cannot also repay `other`.
    await write(escrow, qantaraEscrowAbi, 'proveBtcPayout', [o.orderId, o.order, o.btc, o.toProvider, onChain(proofs.get(shallow.payment.txid)!)], 5)
    expect(await prove(shallow.payment.txid, other)).toBe('PayoutAlreadyProved')
  }, 180_000)

  it('pays the provider on the escrow chain when no payout is proved by the deadline', async () => {
    const o = await owedOrder(600n)
    expect(await revertName(() => write(escrow, qantaraEscrowAbi, 'claimBtcFallback', [o.orderId, o.order, o.btc, o.toProvider], 5))).toBe('PayoutDeadlineNotReached')
    await bed.testClient.increaseTime({ seconds: 700 })
    await bed.testClient.mine({ blocks: 1 })
    const { payment, blockHash } = await payAndConfirm([{ script: providerScript, value: o.sats }], o.orderId)
    const late = await buildSpvProof(btcd.rpc, REGTEST, payment.txid, blockHash, CONFIRMATIONS)
    expect(await revertName(() => write(escrow, qantaraEscrowAbi, 'proveBtcPayout', [o.orderId, o.order, o.btc, o.toProvider, onChain(late)], 5))).toBe('PayoutDeadlinePassed')
    const before = await bed.publicClient.getBalance({ address: o.order.payout })
    await write(escrow, qantaraEscrowAbi, 'claimBtcFallback', [o.orderId, o.order, o.btc, o.toProvider], 5)
    expect(await bed.publicClient.getBalance({ address: o.order.payout })).toBe(before + o.toProvider)
  }, 120_000)

  it('payout watcher: releases a tagged payout only 6 deep, never one reorged out first, and halts if a released block changes', async () => {
    const REGTEST_CHAIN = 'bip122:0f9188f13cb7b2c71f2a335e3a4fc328'
    const [watched, replaced, other] = ['a1', 'a2', 'a3'].map((b) => `0x${b.repeat(32)}`) as [Hex, Hex, Hex]
    const store = new SqliteStore(':memory:')
    const watcher = () => new BtcPayoutWatcher({ chain: REGTEST_CHAIN, source: btcd.rpc, confirmations: CONFIRMATIONS, startHeight: 0, isWatched: (id) => Promise.resolve(id === watched || id === replaced) })
    const drain = async (w = watcher()) => {
      for (;;) {
        const from = await store.getCheckpoint(REGTEST_CHAIN)
        const r = await w.poll(from)
        await store.commitEvents(REGTEST_CHAIN, r.events, r.checkpoint)
        if (from && r.checkpoint.height === from.height) return
      }
    }
    const seen = async () => (await store.listEvents({ chain: REGTEST_CHAIN })).map((e) => e.event).filter((e): e is Extract<ChainEvent, { kind: 'BtcPayoutSeen' }> => e.kind === 'BtcPayoutSeen')
    await drain()
    const before = (await seen()).length

    // Paid, two blocks deep, then reorged out and replaced by a payment tagged for another order.
    const utxos = await btcd.rpc.listUnspent(solver.address)
    const first = solver.pay({ outputs: [{ script: providerScript, value: 70_000n }], tag: Buffer.from(replaced.slice(2), 'hex'), utxos, feeRate: 2 })
    await btcd.rpc.sendRawTransaction(first.hex)
    const [firstBlock] = await btcd.rpc.mine(2)
    await drain()
    await btcd.rpc.invalidateBlock(firstBlock!)
    const replacement = solver.pay({ outputs: [{ script: solver.script, value: 70_000n }], tag: Buffer.from(other.slice(2), 'hex'), utxos: first.spent, feeRate: 20 })
    await btcd.rpc.sendRawTransaction(replacement.hex)
    await btcd.rpc.mine(CONFIRMATIONS + 2)
    await drain()
    expect((await seen()).slice(before)).toEqual([])

    const { payment, blockHash } = await payAndConfirm([{ script: providerScript, value: 80_000n }], watched)
    await drain()
    // A restarted watcher resumes from its checkpoint and releases nothing twice.
    await drain(watcher())
    const released = (await seen()).slice(before)
    expect(released.map((e) => [e.txHash, e.orderId, e.block.hash])).toEqual([[payment.txid, watched, blockHash]])
    expect(released[0]!.outputs).toContainEqual({ script: Buffer.from(providerScript).toString('hex'), sats: 80_000n })

    await btcd.rpc.invalidateBlock(blockHash)
    await btcd.rpc.mine(CONFIRMATIONS + 1)
    const err = await watcher().poll(await store.getCheckpoint(REGTEST_CHAIN)).catch((e: unknown) => e)
    expect(isQantaraError(err, 'REORG_BEYOND_FINALITY')).toBe(true)
    await store.close()
  }, 180_000)
})
