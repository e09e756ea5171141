import { REFERENCE_GPU_WORD } from '../devkit/gpu/referenceGpu.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getAddress, keccak256, toHex, zeroAddress, type Address, type Hex } from 'viem'
import { payments } from 'bitcoinjs-lib'
import { secp256k1 } from '@noble/curves/secp256k1'
import { startBtcd, type Btcd } from '../devkit/chains/btcd.js'
import { REGTEST } from '../adapters/bitcoin/header.js'
import { buildSpvProof } from '../adapters/bitcoin/proofBuilder.js'
import { checkPayout } from '../adapters/bitcoin/payoutCheck.js'
import { verifySpvProof, type SpvProof } from '../adapters/bitcoin/spvProof.js'
import { BtcWallet } from '../adapters/bitcoin/wallet.js'
import { BITCOIN_CHAIN_IDS } from '../adapters/bitcoin/config.js'
import { btcLightRelayAbi } from '../adapters/evm/contracts/artifacts/BtcLightRelay.js'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { testTokenAbi } from '../adapters/evm/contracts/artifacts/TestToken.js'
import { evmChainConfigSchema } from '../adapters/evm/config.js'
import { deployBtcEscrow, deployTestToken } from '../adapters/evm/deploy.js'
import { btcQuoteFor, signBtcQuote, sortAddresses } from '../adapters/evm/eip712.js'
import { toEvmBtcProof, type EvmBtcPayout, type EvmOrder } from '../adapters/evm/codec.js'
import { decodeEscrowLogs } from '../adapters/evm/events.js'
import { evmRuntime } from '../adapters/evm/runtime.js'
import { BtcPayoutWatcher } from '../adapters/bitcoin/payoutWatcher.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { isQantaraError, QantaraError } from '../src/errors.js'
import type { ChainEvent } from '../src/chains.js'
import type { BtcPayoutRail } from '../src/btcRail.js'
import { silentLogger } from '../src/log.js'
import { createMetrics } from '../src/metrics.js'
import { BTC_PROOF_GRACE_SECONDS } from '../src/order.js'
import type { Prober } from '../src/relay/prober.js'
import { Relayer } from '../src/relay/relayer.js'
import { relayerKeys, signBy, startEvmTestbed, type EvmTestbed } from '../devkit/evmTestbed.js'
import { revertName } from './support/revert.js'
import { waitFor } from '../devkit/waitFor.js'

const CONFIRMATIONS = 6
let btcd: Btcd
let bed: EvmTestbed
let solver: BtcWallet
let escrow: Address
const relayers = relayerKeys(3)
const providerScript = Uint8Array.from(
  payments.p2wpkh({ pubkey: secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true) }).output!,
)
const RATE = 10n ** 6n // sats per 1e18 wei: 1 ETH = 0.01 BTC

const hexOf = (b: Uint8Array): Hex => toHex(b)
const onChain = (p: SpvProof) =>
  toEvmBtcProof({ ...p, coinbase: p.coinbase!, coinbaseMerkle: p.coinbaseMerkle! })
const solverEvm = () => bed.account(7)

async function write(
  address: Address,
  abi: typeof qantaraEscrowAbi | typeof btcLightRelayAbi | typeof testTokenAbi,
  functionName: string,
  args: readonly unknown[],
  from = 0,
  value = 0n,
) {
  const { request } = await bed.publicClient.simulateContract({
    account: bed.account(from),
    address,
    abi,
    functionName,
    args,
    value,
  } as never)
  const receipt = await bed.publicClient.waitForTransactionReceipt({
    hash: await bed.wallet(from).writeContract(request as never),
  })
  if (receipt.status !== 'success') throw new Error(`${functionName} failed`)
  return receipt
}

const domain = () => ({ chainId: 31337, escrow })
const orderState = (orderId: Hex) =>
  bed.publicClient.readContract({
    address: escrow,
    abi: qantaraEscrowAbi,
    functionName: 'orderState',
    args: [orderId],
  })
const SETTLED = toHex(1, { size: 32 })
const NO_ORDER = toHex(0, { size: 32 })
const newOrderId = async (renter: Address) => {
  const salt = toHex(crypto.getRandomValues(new Uint8Array(32)))
  return {
    salt,
    orderId: await bed.publicClient.readContract({
      address: escrow,
      abi: qantaraEscrowAbi,
      functionName: 'orderIdFor',
      args: [renter, salt],
    }),
  }
}

/** The solver's signed quote for `order` under `orderId`: its token, exactly its amount and end, good for ten minutes, unless `bounds` say otherwise. */
async function quoteFor(
  orderId: Hex,
  order: EvmOrder,
  payoutDeadline: bigint,
  bounds: Partial<Pick<EvmBtcPayout, 'maxAmount' | 'openBy' | 'latestEnd' | 'satsPerE18'>> = {},
) {
  const now = (await bed.publicClient.getBlock()).timestamp
  const btc: EvmBtcPayout = {
    script: hexOf(providerScript),
    solver: solverEvm().address,
    satsPerE18: RATE,
    payoutDeadline,
    maxAmount: order.amount,
    openBy: now + 600n,
    latestEnd: order.start + BigInt(order.slotLength * order.slots),
    ...bounds,
  }
  return { btc, quote: await signBtcQuote(solverEvm(), domain(), btcQuoteFor(orderId, order.token, btc)) }
}

/** Opens a BTC-payout order for 1 ETH, ten 1-second slots from 2 s from now, its payout due `deadlineIn` seconds from now. */
async function openedOrder(deadlineIn = 3_600n) {
  const block = await bed.publicClient.getBlock()
  const order: EvmOrder = {
    renter: bed.account(2).address,
    token: zeroAddress,
    amount: 10n ** 18n,
    providerId: keccak256(toHex('provider')),
    payout: bed.account(8).address,
    start: block.timestamp + 2n,
    slotLength: 1,
    slots: 10,
    gpu: REFERENCE_GPU_WORD,
  }
  const { salt, orderId } = await newOrderId(order.renter)
  const { btc, quote } = await quoteFor(orderId, order, block.timestamp + deadlineIn)
  await write(escrow, qantaraEscrowAbi, 'openBtc', [order, btc, quote, salt], 2, order.amount)
  return { orderId, order, btc }
}

/** Settles an opened order at 60% uptime, signed by two of the three relayers: 0.6 ETH, i.e. 600,000 sats, owed to the provider. */
async function settleOwed(o: Awaited<ReturnType<typeof openedOrder>>) {
  const settlement = {
    orderId: o.orderId,
    toProvider: 6n * 10n ** 17n,
    toRenter: 4n * 10n ** 17n,
    fee: 0n,
    feeRecipient: zeroAddress,
    upSlots: 6,
    totalSlots: 10,
    heartbeatRoot: keccak256('0x01'),
  }
  await write(escrow, qantaraEscrowAbi, 'settleBtc', [
    o.order,
    o.btc,
    settlement,
    await signBy(relayers.slice(0, 2), domain(), settlement),
  ])
  return { ...o, toProvider: settlement.toProvider, sats: 600_000n }
}

/** Opens and settles a BTC-payout order: 600,000 sats owed to the provider. */
async function owedOrder(deadlineIn = 3_600n) {
  const o = await openedOrder(deadlineIn)
  await bed.testClient.increaseTime({ seconds: 20 })
  await bed.testClient.mine({ blocks: 1 })
  return settleOwed(o)
}

/** Moves anvil's clock by `seconds` (back too) and mines a block there. */
async function travel(seconds: bigint) {
  const now = (await bed.publicClient.getBlock()).timestamp
  await bed.testClient.request({ method: 'evm_setTime', params: [Number(now + seconds)] } as never)
  await bed.testClient.mine({ blocks: 1 })
}

/**
 * One relayer (quorum of itself, its key anvil account 6, which the escrow's
 * set does not hold) running against the escrow and btcd from now on, its
 * clock anvil's. `blocked` payouts' proofs fail to build, as with a node that
 * cannot serve them: the relayer meets the payout deadline with a payout it
 * could not prove yet.
 */
async function runRelayer() {
  const store = new SqliteStore(':memory:')
  const startBlock = (await bed.publicClient.getBlockNumber()) + 1n
  const config = evmChainConfigSchema.parse({
    family: 'evm',
    id: 'eip155:31337',
    rpc: [bed.anvil.rpcUrl],
    escrow,
    confirmations: 1,
    startBlock: startBlock.toString(),
    pollIntervalMs: 100,
    key: { env: 'UNUSED' },
    submitter: { maxFeePerGasWei: '500000000000' },
  })
  const runtime = evmRuntime(config, bed.account(6), new Map(), store, silentLogger())
  const watcher = new BtcPayoutWatcher({
    chain: BITCOIN_CHAIN_IDS.regtest,
    source: btcd.rpc,
    confirmations: CONFIRMATIONS,
    startHeight: await btcd.rpc.getBlockCount(),
    isWatched: async (id) => (await store.getOrder(id))?.terms.btc !== undefined,
  })
  const blocked = new Set<string>()
  const rail: BtcPayoutRail = {
    chain: BITCOIN_CHAIN_IDS.regtest,
    watcher,
    confirmations: CONFIRMATIONS,
    pollIntervalMs: 100,
    buildProof: (txid, blockHash) =>
      blocked.has(txid)
        ? Promise.reject(
            new QantaraError('RPC_UNAVAILABLE', `proof of ${txid} unavailable (test)`, { retryable: true }),
          )
        : buildSpvProof(btcd.rpc, REGTEST, txid, blockHash, CONFIRMATIONS),
    checkPayout: (txid, blockHash) => checkPayout(btcd.rpc, REGTEST, txid, blockHash, CONFIRMATIONS),
    retargetHeaders: () => Promise.resolve(undefined),
  }
  const clock = { offsetMs: 0 }
  const syncClock = async () => {
    clock.offsetMs = Number((await bed.publicClient.getBlock()).timestamp) * 1000 - Date.now()
  }
  await syncClock()
  const prober = {
    schedule: () => undefined,
    prune: () => undefined,
    drain: () => Promise.resolve(),
  } as unknown as Prober
  const relayer = new Relayer({
    relayerId: 'r1',
    members: ['r1'],
    threshold: 2,
    // The dev kit's CPU reference device is what these providers report.
    acceptTestGpuClasses: true,
    feeBps: 0,
    graceSeconds: 0,
    store,
    chains: [runtime],
    prober,
    metrics: createMetrics(),
    logger: silentLogger(),
    btc: rail,
    tickMs: 100,
    nowMs: () => Date.now() + clock.offsetMs,
  })
  const abort = new AbortController()
  const done = relayer.run(abort.signal)
  /** Waits for `fn`, mining an anvil block each try so the watcher's one confirmation comes. */
  const until = <T>(fn: () => Promise<T | undefined>, what: string) =>
    waitFor(
      async () => {
        await bed.testClient.mine({ blocks: 1 })
        return fn()
      },
      what,
      30_000,
      200,
    )
  return {
    store,
    blocked,
    syncClock,
    until,
    stop: async () => {
      abort.abort()
      await done
      await store.close()
    },
  }
}

async function payAndConfirm(
  outputs: { script: Uint8Array; value: bigint }[],
  tag: Hex,
  confirmations = CONFIRMATIONS,
) {
  const payment = solver.pay({
    outputs,
    tag: Buffer.from(tag.slice(2), 'hex'),
    utxos: await btcd.rpc.listUnspent(solver.address),
    feeRate: 2,
  })
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
  const tip = await btcd.rpc.getBlockCount()
  const header: Hex = `0x${await btcd.rpc.getBlockHeaderHex(await btcd.rpc.getBlockHash(tip))}`
  const genesis = { header, height: tip, proofLength: 6 }
  const deployed = await deployBtcEscrow(bed.wallet(0), bed.publicClient, {
    relayers: sortAddresses(relayers.map((r) => r.address)),
    threshold: 2,
    maxFeeBps: 500,
    reclaimGrace: 3600n,
    btc: { network: 'regtest', confirmations: CONFIRMATIONS, genesis },
  })
  escrow = deployed.escrow
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
    const verdict = verifySpvProof(proof, {
      params: REGTEST,
      requireCoinbase: true,
      minConfirmations: CONFIRMATIONS,
    })
    expect(verdict.valid && verdict.txid).toBe(payment.txid)

    const before = await bed.publicClient.getBalance({ address: solverEvm().address })
    await write(
      escrow,
      qantaraEscrowAbi,
      'proveBtcPayout',
      [o.orderId, o.order, o.btc, o.toProvider, onChain(proof)],
      5,
    )
    expect(await bed.publicClient.getBalance({ address: solverEvm().address })).toBe(before + o.toProvider)
    // The same payout again: the order is no longer owed.
    expect(
      await revertName(() =>
        write(
          escrow,
          qantaraEscrowAbi,
          'proveBtcPayout',
          [o.orderId, o.order, o.btc, o.toProvider, onChain(proof)],
          5,
        ),
      ),
    ).toBe('NotOwedInBtc')
  }, 120_000)

  it('refuses proofs of payments for another order, of less, or to another script, and one payout for two orders', async () => {
    const o = await owedOrder()
    const other = await owedOrder()
    const proofs = new Map<string, SpvProof>()
    const record = async (x: { payment: { txid: string }; blockHash: string }) => {
      proofs.set(
        x.payment.txid,
        await buildSpvProof(btcd.rpc, REGTEST, x.payment.txid, x.blockHash, CONFIRMATIONS),
      )
      return x
    }
    const prove = (txid: string, target = o) =>
      revertName(() =>
        write(
          escrow,
          qantaraEscrowAbi,
          'proveBtcPayout',
          [target.orderId, target.order, target.btc, target.toProvider, onChain(proofs.get(txid)!)],
          5,
        ),
      )
    const wrongTag = await record(
      await payAndConfirm(
        [{ script: providerScript, value: o.sats }],
        other.orderId.replace(/.$/, (c) => (c === '0' ? '1' : '0')) as Hex,
      ),
    )
    expect(await prove(wrongTag.payment.txid)).toBe('PayoutNotTagged')
    const tooLittle = await record(
      await payAndConfirm([{ script: providerScript, value: o.sats - 1n }], o.orderId),
    )
    expect(await prove(tooLittle.payment.txid)).toBe('PayoutTooSmall')
    const elsewhere = await record(await payAndConfirm([{ script: solver.script, value: o.sats }], o.orderId))
    expect(await prove(elsewhere.payment.txid)).toBe('PayoutTooSmall')
    const shallowPay = await payAndConfirm([{ script: providerScript, value: o.sats }], o.orderId, 1)
    await btcd.rpc.mine(CONFIRMATIONS - 1)
    const shallow = await record(shallowPay)
    const cut = {
      ...proofs.get(shallow.payment.txid)!,
      headers: proofs.get(shallow.payment.txid)!.headers.slice(0, CONFIRMATIONS - 1),
    }
    expect(
      await revertName(() =>
        write(
          escrow,
          qantaraEscrowAbi,
          'proveBtcPayout',
          [o.orderId, o.order, o.btc, o.toProvider, onChain(cut)],
          5,
        ),
      ),
    ).toBe('NotEnoughConfirmations')
    // The good payment for `o` proves `o`, and is then spent: it cannot also repay `other`.
    await write(
      escrow,
      qantaraEscrowAbi,
      'proveBtcPayout',
      [o.orderId, o.order, o.btc, o.toProvider, onChain(proofs.get(shallow.payment.txid)!)],
      5,
    )
    expect(await prove(shallow.payment.txid, other)).toBe('PayoutAlreadyProved')
  }, 180_000)

  it('openBtc holds the renter to the quote: its token, at most its amount, by its open-by time, ending by its latest end', async () => {
    const renter = bed.account(2).address
    // The attack of security review #5: a token the renter minted itself, the solver's quote for a real one.
    const junk = await deployTestToken(bed.wallet(2), bed.publicClient, 'JUNK', 18)
    await write(junk, testTokenAbi, 'mint', [renter, 10n ** 24n], 2)
    await write(junk, testTokenAbi, 'approve', [escrow, 2n ** 256n - 1n], 2)
    const block = await bed.publicClient.getBlock()
    const order: EvmOrder = {
      renter,
      token: zeroAddress,
      amount: 10n ** 18n,
      providerId: keccak256(toHex('provider')),
      payout: bed.account(8).address,
      start: block.timestamp + 60n,
      slotLength: 60,
      slots: 10,
      gpu: REFERENCE_GPU_WORD,
    }
    const end = order.start + 600n
    const deadline = end + 3_600n
    /** Opens `opened` with the quote signed for `quoted` within `bounds`; the name of the revert, or undefined when it opened. */
    const open = async (
      opened: EvmOrder,
      quoted: EvmOrder,
      bounds: Parameters<typeof quoteFor>[3] = {},
      before?: () => Promise<void>,
    ) => {
      const { salt, orderId } = await newOrderId(renter)
      const { btc, quote } = await quoteFor(orderId, quoted, deadline, bounds)
      await before?.()
      const args = [opened, btc, quote, salt]
      const value = opened.token === zeroAddress ? opened.amount : 0n
      try {
        const receipt = await write(escrow, qantaraEscrowAbi, 'openBtc', args, 2, value)
        return { orderId, btc, receipt }
      } catch {
        const reason = await revertName(() => write(escrow, qantaraEscrowAbi, 'openBtc', args, 2, value))
        expect(await orderState(orderId)).toBe(NO_ORDER)
        return { reason }
      }
    }
    expect((await open({ ...order, token: junk }, order)).reason).toBe('BadQuoteSignature')
    expect((await open({ ...order, amount: order.amount + 1n }, order)).reason).toBe('AmountAboveQuote')
    expect((await open({ ...order, slots: 11 }, order, { latestEnd: end })).reason).toBe(
      'OrderEndsAfterQuote',
    )
    expect((await open(order, order, { openBy: block.timestamp + 30n }, () => travel(31n))).reason).toBe(
      'QuoteExpired',
    )
    // No order may owe more than one proof's worth (security review #11): 6 blocks' reward over 2, 9.375 BTC, here 1 ETH at 9.375 BTC and 1 sat.
    expect(
      await bed.publicClient.readContract({
        address: escrow,
        abi: qantaraEscrowAbi,
        functionName: 'maxPayoutSats',
      }),
    ).toBe(937_500_000n)
    expect((await open(order, order, { satsPerE18: 937_500_001n })).reason).toBe('PayoutAboveCap')
    expect((await open(order, order, { satsPerE18: 937_500_000n })).reason).toBeUndefined()

    // Within every bound (the amount and end exactly at theirs) the order opens, and watchers read the bounds back.
    const opened = await open(order, order, { maxAmount: order.amount, latestEnd: end })
    expect(opened.reason).toBeUndefined()
    const [event] = decodeEscrowLogs('eip155:31337', getAddress(escrow), opened.receipt!.logs)
    expect(event?.kind === 'OrderOpened' && event.order.btc).toEqual({
      script: hexOf(providerScript).slice(2),
      solver: solverEvm().address,
      satsPerE18: RATE,
      payoutDeadline: deadline,
      maxAmount: order.amount,
      openBy: opened.btc!.openBy,
      latestEnd: end,
    })
  }, 120_000)

  it('pays the provider on the escrow chain only once no proof can be accepted: the deadline plus the proof grace', async () => {
    const o = await owedOrder(600n)
    expect(
      await revertName(() =>
        write(escrow, qantaraEscrowAbi, 'claimBtcFallback', [o.orderId, o.order, o.btc, o.toProvider], 5),
      ),
    ).toBe('ProofWindowOpen')
    await travel(700n)
    // Past the deadline the proof window is still open: no fallback yet.
    expect(
      await revertName(() =>
        write(escrow, qantaraEscrowAbi, 'claimBtcFallback', [o.orderId, o.order, o.btc, o.toProvider], 5),
      ),
    ).toBe('ProofWindowOpen')
    const { payment, blockHash } = await payAndConfirm([{ script: providerScript, value: o.sats }], o.orderId)
    const proof = await buildSpvProof(btcd.rpc, REGTEST, payment.txid, blockHash, CONFIRMATIONS)
    await travel(BTC_PROOF_GRACE_SECONDS)
    expect(
      await revertName(() =>
        write(
          escrow,
          qantaraEscrowAbi,
          'proveBtcPayout',
          [o.orderId, o.order, o.btc, o.toProvider, onChain(proof)],
          5,
        ),
      ),
    ).toBe('ProofWindowClosed')
    const before = await bed.publicClient.getBalance({ address: o.order.payout })
    await write(escrow, qantaraEscrowAbi, 'claimBtcFallback', [o.orderId, o.order, o.btc, o.toProvider], 5)
    expect(await bed.publicClient.getBalance({ address: o.order.payout })).toBe(before + o.toProvider)
  }, 120_000)

  it('after the deadline, within the grace, proves a payout Bitcoin dates by the deadline and refuses one mined after it', async () => {
    const inTime = await owedOrder(600n)
    const paid = await payAndConfirm([{ script: providerScript, value: inTime.sats }], inTime.orderId)
    const proof = await buildSpvProof(btcd.rpc, REGTEST, paid.payment.txid, paid.blockHash, CONFIRMATIONS)
    expect(BigInt(Buffer.from(proof.headers[0]!).readUInt32LE(68))).toBeLessThanOrEqual(
      inTime.btc.payoutDeadline,
    )
    await travel(700n)
    const before = await bed.publicClient.getBalance({ address: solverEvm().address })
    await write(
      escrow,
      qantaraEscrowAbi,
      'proveBtcPayout',
      [inTime.orderId, inTime.order, inTime.btc, inTime.toProvider, onChain(proof)],
      5,
    )
    expect(await bed.publicClient.getBalance({ address: solverEvm().address })).toBe(
      before + inTime.toProvider,
    )

    // Anvil's clock two hours behind Bitcoin's: the next payout's block is dated after its order's deadline.
    const behind =
      BigInt(Math.floor(Date.now() / 1000)) - 7_200n - (await bed.publicClient.getBlock()).timestamp
    await travel(behind)
    const late = await owedOrder(600n)
    const early = await owedOrder(3_600n)
    const lateProofs: SpvProof[] = []
    for (const o of [late, early]) {
      const { payment, blockHash } = await payAndConfirm(
        [{ script: providerScript, value: o.sats }],
        o.orderId,
      )
      const p = await buildSpvProof(btcd.rpc, REGTEST, payment.txid, blockHash, CONFIRMATIONS)
      expect(BigInt(Buffer.from(p.headers[0]!).readUInt32LE(68))).toBeGreaterThan(o.btc.payoutDeadline)
      lateProofs.push(p)
    }
    // Before the deadline the time a block claims does not matter: a proof then is in time.
    await write(
      escrow,
      qantaraEscrowAbi,
      'proveBtcPayout',
      [early.orderId, early.order, early.btc, early.toProvider, onChain(lateProofs[1]!)],
      5,
    )
    expect(await orderState(early.orderId)).toBe(SETTLED)
    await travel(700n)
    expect(
      await revertName(() =>
        write(
          escrow,
          qantaraEscrowAbi,
          'proveBtcPayout',
          [late.orderId, late.order, late.btc, late.toProvider, onChain(lateProofs[0]!)],
          5,
        ),
      ),
    ).toBe('PayoutMinedAfterDeadline')
    // Anvil back ahead of Bitcoin's clock for what follows.
    await travel(-behind)
  }, 180_000)

  it('relayer: proves a payout after the deadline, never claims the fallback while a confirmed payout is known, and claims it when none was made', async () => {
    const relayer = await runRelayer()
    try {
      const [proved, unproved, unpaid] = [await owedOrder(600n), await owedOrder(600n), await owedOrder(600n)]
      const pending = async (id: Hex) =>
        (await relayer.store.getOrder(id))?.state === 'payout-pending' ? true : undefined
      for (const o of [proved, unproved, unpaid])
        await relayer.until(() => pending(o.orderId), `${o.orderId} payout-pending`)
      // The solver pays two of them; their proofs cannot be built for now.
      for (const o of [proved, unproved]) {
        const { payment } = await payAndConfirm([{ script: providerScript, value: o.sats }], o.orderId)
        relayer.blocked.add(payment.txid)
        await relayer.until(
          async () =>
            (await relayer.store.getOrder(o.orderId))?.btcTxid === payment.txid ? true : undefined,
          `payout of ${o.orderId} seen`,
        )
      }
      const provider = () => bed.publicClient.getBalance({ address: proved.order.payout })
      const providerBefore = await provider()
      const solverBefore = await bed.publicClient.getBalance({ address: solverEvm().address })
      const owedStates = await Promise.all([proved, unproved, unpaid].map((o) => orderState(o.orderId)))

      // Past every deadline, within the grace: nothing claims the fallback.
      await travel(700n)
      await relayer.syncClock()
      await new Promise((r) => setTimeout(r, 1_500))
      expect(await Promise.all([proved, unproved, unpaid].map((o) => orderState(o.orderId)))).toEqual(
        owedStates,
      )
      // The proof can be built again: it lands after the deadline, and repays the solver.
      relayer.blocked.delete((await relayer.store.getOrder(proved.orderId))!.btcTxid!)
      await relayer.until(
        async () => ((await orderState(proved.orderId)) === SETTLED ? true : undefined),
        'late proof',
      )
      expect(await bed.publicClient.getBalance({ address: solverEvm().address })).toBe(
        solverBefore + proved.toProvider,
      )

      // Past the proof window: the unpaid order's provider is paid on the escrow chain; the paid-but-unproved one is left alone.
      await travel(BTC_PROOF_GRACE_SECONDS)
      await relayer.syncClock()
      await relayer.until(
        async () => ((await orderState(unpaid.orderId)) === SETTLED ? true : undefined),
        'fallback of the unpaid order',
      )
      await new Promise((r) => setTimeout(r, 1_500))
      expect(await provider()).toBe(providerBefore + unpaid.toProvider)
      expect(await orderState(unproved.orderId)).toBe(owedStates[1])
      expect((await relayer.store.getOrder(unproved.orderId))?.state).toBe('payout-pending')
      expect((await relayer.store.getOrder(proved.orderId))?.state).toBe('settled')
    } finally {
      await relayer.stop()
    }
  }, 180_000)

  it("relayer: on OrderSettled it acts on the chain's split, not its own, and proves the payout for it (security review #16)", async () => {
    const relayer = await runRelayer()
    try {
      const o = await openedOrder(3_600n)
      await travel(20n)
      await relayer.syncClock()
      // With no heartbeats its own settlement pays the provider nothing; it cannot settle alone.
      const ours = await relayer.until(async () => {
        const r = await relayer.store.getOrder(o.orderId)
        return r?.state === 'settling' ? r.settlement : undefined
      }, 'own settlement')
      expect(ours.toProvider).toBe(0n)
      // A quorum settles with 60% uptime.
      const owed = await settleOwed(o)
      await relayer.until(async () => {
        const r = await relayer.store.getOrder(o.orderId)
        return r?.state === 'payout-pending' ? true : undefined
      }, 'payout-pending')
      expect((await relayer.store.getOrder(o.orderId))?.settlement?.toProvider).toBe(owed.toProvider)
      const solverBefore = await bed.publicClient.getBalance({ address: solverEvm().address })
      const { payment } = await payAndConfirm([{ script: providerScript, value: owed.sats }], o.orderId)
      await relayer.until(
        async () => ((await relayer.store.getOrder(o.orderId))?.state === 'settled' ? true : undefined),
        'proved',
      )
      expect(await orderState(o.orderId)).toBe(SETTLED)
      expect(await bed.publicClient.getBalance({ address: solverEvm().address })).toBe(
        solverBefore + owed.toProvider,
      )
      expect((await relayer.store.getOrder(o.orderId))?.btcTxid).toBe(payment.txid)
    } finally {
      await relayer.stop()
    }
  }, 180_000)

  it('payout watcher: releases a tagged payout only 6 deep, never one reorged out first, and halts if a released block changes', async () => {
    const REGTEST_CHAIN = 'bip122:0f9188f13cb7b2c71f2a335e3a4fc328'
    const [watched, replaced, other] = ['a1', 'a2', 'a3'].map((b) => `0x${b.repeat(32)}`) as [Hex, Hex, Hex]
    const store = new SqliteStore(':memory:')
    const watcher = () =>
      new BtcPayoutWatcher({
        chain: REGTEST_CHAIN,
        source: btcd.rpc,
        confirmations: CONFIRMATIONS,
        startHeight: 0,
        isWatched: (id) => Promise.resolve(id === watched || id === replaced),
      })
    const drain = async (w = watcher()) => {
      for (;;) {
        const from = await store.getCheckpoint(REGTEST_CHAIN)
        const r = await w.poll(from)
        await store.commitEvents(REGTEST_CHAIN, r.events, r.checkpoint)
        if (from && r.checkpoint.height === from.height) return
      }
    }
    const seen = async () =>
      (await store.listEvents({ chain: REGTEST_CHAIN }))
        .map((e) => e.event)
        .filter((e): e is Extract<ChainEvent, { kind: 'BtcPayoutSeen' }> => e.kind === 'BtcPayoutSeen')
    await drain()
    const before = (await seen()).length

    // Paid, two blocks deep, then reorged out and replaced by a payment tagged for another order.
    const utxos = await btcd.rpc.listUnspent(solver.address)
    const first = solver.pay({
      outputs: [{ script: providerScript, value: 70_000n }],
      tag: Buffer.from(replaced.slice(2), 'hex'),
      utxos,
      feeRate: 2,
    })
    await btcd.rpc.sendRawTransaction(first.hex)
    const [firstBlock] = await btcd.rpc.mine(2)
    await drain()
    await btcd.rpc.invalidateBlock(firstBlock!)
    const replacement = solver.pay({
      outputs: [{ script: solver.script, value: 70_000n }],
      tag: Buffer.from(other.slice(2), 'hex'),
      utxos: first.spent,
      feeRate: 20,
    })
    await btcd.rpc.sendRawTransaction(replacement.hex)
    await btcd.rpc.mine(CONFIRMATIONS + 2)
    await drain()
    expect((await seen()).slice(before)).toEqual([])

    const { payment, blockHash } = await payAndConfirm([{ script: providerScript, value: 80_000n }], watched)
    await drain()
    // A restarted watcher resumes from its checkpoint and releases nothing twice.
    await drain(watcher())
    const released = (await seen()).slice(before)
    expect(released.map((e) => [e.txHash, e.orderId, e.block.hash])).toEqual([
      [payment.txid, watched, blockHash],
    ])
    expect(released[0]!.outputs).toContainEqual({
      script: Buffer.from(providerScript).toString('hex'),
      sats: 80_000n,
    })

    await btcd.rpc.invalidateBlock(blockHash)
    await btcd.rpc.mine(CONFIRMATIONS + 1)
    const err = await watcher()
      .poll(await store.getCheckpoint(REGTEST_CHAIN))
      .catch((e: unknown) => e)
    expect(isQantaraError(err, 'REORG_BEYOND_FINALITY')).toBe(true)
    await store.close()
  }, 180_000)
})
