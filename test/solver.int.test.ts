import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Gauge, Registry } from 'prom-client'
import { payments, Transaction } from 'bitcoinjs-lib'
import { secp256k1 } from '@noble/curves/secp256k1'
import { startBtcd, type Btcd } from '../devkit/chains/btcd.js'
import { BITCOIN_CHAIN_IDS } from '../adapters/bitcoin/config.js'
import { btcPayer } from '../adapters/bitcoin/payer.js'
import { BtcWallet } from '../adapters/bitcoin/wallet.js'
import type { ChainEvent, Watcher } from '../src/chains.js'
import { silentLogger } from '../src/log.js'
import type { OrderTerms } from '../src/order.js'
import { Solver, type BtcPayer } from '../src/solver/solver.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { tempDir } from './support/tmp.js'

const tmp = tempDir()
let btcd: Btcd
let wallet: BtcWallet
const SOLVER_EVM = '0x14dC79964da2C08b23698B3D3cc7Ca32193d9955'
const CHAIN = 'eip155:31337' as const
const script = Buffer.from(
  payments.p2wpkh({ pubkey: secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true) }).output!,
).toString('hex')

const USDC = '0x5FbDB2315678afecb367f032d93F642f64180aa3'
/** The payout window this solver needs before a deadline: 6 blocks × 10 min × 3, the default. */
const WINDOW = 10_800

function btcOrder(id: string, deadline = BigInt(Math.floor(Date.now() / 1000) + 4 * 3600)): OrderTerms {
  return {
    id: id as OrderTerms['id'],
    chain: CHAIN,
    renter: '0xr',
    token: 'native',
    amount: 10n ** 18n,
    providerId: `0x${'11'.repeat(32)}`,
    payout: '0xp',
    start: 1n,
    slotLength: 60,
    slots: 10,
    gpu: REFERENCE_ORDER_GPU,
    btc: {
      script,
      solver: SOLVER_EVM,
      satsPerE18: 1_000_000n,
      payoutDeadline: deadline,
      maxAmount: 10n ** 18n,
      openBy: 1n,
      latestEnd: 601n,
    },
  }
}

/** The escrow's facts for one order, as its watcher would have committed them: opened, then settled with 0.6 ETH to the provider. */
async function escrowFacts(store: SqliteStore, order: OrderTerms, height: bigint): Promise<void> {
  const block = { height, hash: `0x${height.toString(16).padStart(64, '0')}` }
  const events: ChainEvent[] = [
    { kind: 'OrderOpened', chain: CHAIN, key: `OrderOpened:${order.id}`, block, txHash: '0xopen', order },
    {
      kind: 'OrderSettled',
      chain: CHAIN,
      key: `OrderSettled:${order.id}`,
      block,
      txHash: '0xsettle',
      orderId: order.id,
      settlement: {
        orderId: order.id,
        toProvider: 6n * 10n ** 17n,
        toRenter: 4n * 10n ** 17n,
        fee: 0n,
        feeRecipient: '',
        upSlots: 6,
        totalSlots: 10,
        heartbeatRoot: `0x${'00'.repeat(32)}`,
      },
    },
  ]
  await store.commitEvents(CHAIN, events, block)
}

function solver(store: SqliteStore, payer: BtcPayer) {
  const idle: Watcher = { chain: CHAIN, poll: () => Promise.reject(new Error('not used')) }
  return new Solver({
    addresses: new Map([[CHAIN, SOLVER_EVM]]),
    tokens: new Map([[CHAIN, new Set(['native', USDC])]]),
    minPayoutWindowSeconds: WINDOW,
    watchers: [{ watcher: idle, pollIntervalMs: 1_000 }],
    payer,
    store,
    liquidity: new Gauge({ name: 'liquidity', help: 'x', registers: [new Registry()] }),
    logger: silentLogger(),
  })
}

/** Every transaction in the chain and mempool paying `script`, as the node holds them. */
async function paymentsTo(): Promise<string[]> {
  const address = payments.p2wpkh({ output: Buffer.from(script, 'hex'), network: wallet.network }).address!
  return (await btcd.rpc.listUnspent(address)).map((u) => u.txid)
}

beforeAll(async () => {
  wallet = BtcWallet.fromKeyText(BtcWallet.generateWif('regtest'), 'regtest')
  btcd = await startBtcd({ miningAddress: wallet.address })
  await btcd.rpc.mine(440)
}, 600_000)
afterAll(async () => {
  await btcd?.stop()
  tmp.cleanup()
})

describe('solver (btcd regtest)', () => {
  it('pays what a settled order owes once, tagged with its id; after a crash before broadcast it sends the stored payment, never a second one', async () => {
    const store = new SqliteStore(`${tmp.dir}/solver.sqlite`)
    const order = btcOrder(`0x${'c1'.repeat(32)}`)
    await escrowFacts(store, order, 10n)
    const real = btcPayer({
      chain: BITCOIN_CHAIN_IDS.regtest,
      rpc: btcd.rpc,
      wallet,
      fallbackFeeRate: 2,
      maxFeeRate: 50,
    })
    // The first process dies between storing the signed payment and broadcasting it.
    const crashing: BtcPayer = { ...real, broadcast: () => Promise.reject(new Error('killed')) }
    await solver(store, crashing).tick()
    const stored = await store.getSubmission(BITCOIN_CHAIN_IDS.regtest, `btc-pay:${order.id}`)
    expect(stored?.state).toBe('pending')
    expect(await paymentsTo()).toEqual([])

    const restarted = solver(store, real)
    await restarted.tick()
    const txid = (stored!.payload as { txid: string }).txid
    expect(await paymentsTo()).toEqual([txid])
    await btcd.rpc.mine(1)
    await restarted.tick()
    await restarted.tick()
    expect(await paymentsTo()).toEqual([txid])
    expect((await store.getOrder(order.id))?.state).toBe('settled')
    const tx = Transaction.fromHex((await btcd.rpc.getTransaction(txid)).hex)
    expect(tx.outs.map((o) => [Buffer.from(o.script).toString('hex'), o.value])).toEqual(
      expect.arrayContaining([
        [script, 600_000n],
        [`6a20${'c1'.repeat(32)}`, 0n],
      ]),
    )
    await store.close()
  }, 120_000)

  it('does not pay a settled order whose deadline leaves less than its proof latency: no transaction, balance unchanged', async () => {
    const store = new SqliteStore(':memory:')
    const real = btcPayer({
      chain: BITCOIN_CHAIN_IDS.regtest,
      rpc: btcd.rpc,
      wallet,
      fallbackFeeRate: 2,
      maxFeeRate: 50,
    })
    // Settled with 3 h − 60 s left: one minute short of the window this solver needs.
    const close = btcOrder(`0x${'c4'.repeat(32)}`, BigInt(Math.floor(Date.now() / 1000) + WINDOW - 60))
    await escrowFacts(store, close, 30n)
    const balance = await real.balance(new Set())
    const coins = (await btcd.rpc.listUnspent(wallet.address)).map((u) => `${u.txid}:${u.vout}`).sort()
    const mempool = await btcd.rpc.call<string[]>('getrawmempool', [])
    const paid = await paymentsTo()
    await solver(store, real).tick()
    expect((await store.getOrder(close.id))?.state).toBe('settled')
    expect(await store.getSubmission(BITCOIN_CHAIN_IDS.regtest, `btc-pay:${close.id}`)).toBeUndefined()
    expect(await btcd.rpc.call<string[]>('getrawmempool', [])).toEqual(mempool)
    expect(await paymentsTo()).toEqual(paid)
    expect((await btcd.rpc.listUnspent(wallet.address)).map((u) => `${u.txid}:${u.vout}`).sort()).toEqual(
      coins,
    )
    expect(await real.balance(new Set())).toBe(balance)
    await store.close()
  }, 60_000)

  it("refuses orders in a token it does not quote or above the quote's amount: never taken on, never paid", async () => {
    const store = new SqliteStore(':memory:')
    const junk = { ...btcOrder(`0x${'c5'.repeat(32)}`), token: '0x00000000000000000000000000000000000000AA' }
    const tooBig = { ...btcOrder(`0x${'c6'.repeat(32)}`), amount: 10n ** 18n + 1n }
    const usdc = {
      ...btcOrder(`0x${'c7'.repeat(32)}`, BigInt(Math.floor(Date.now() / 1000) - 1)),
      token: USDC,
    }
    for (const [i, o] of [junk, tooBig, usdc].entries()) await escrowFacts(store, o, 40n + BigInt(i))
    await solver(
      store,
      btcPayer({
        chain: BITCOIN_CHAIN_IDS.regtest,
        rpc: btcd.rpc,
        wallet,
        fallbackFeeRate: 2,
        maxFeeRate: 50,
      }),
    ).tick()
    expect(await store.getOrder(junk.id)).toBeUndefined()
    expect(await store.getOrder(tooBig.id)).toBeUndefined()
    // A quoted token is taken on (and, past its deadline here, left to the fallback).
    expect((await store.getOrder(usdc.id))?.state).toBe('settled')
    for (const o of [junk, tooBig, usdc])
      expect(await store.getSubmission(BITCOIN_CHAIN_IDS.regtest, `btc-pay:${o.id}`)).toBeUndefined()
    await store.close()
  }, 60_000)

  it('ignores orders quoted by another solver and pays nothing past the deadline', async () => {
    const store = new SqliteStore(':memory:')
    const other = {
      ...btcOrder(`0x${'c2'.repeat(32)}`),
      btc: { ...btcOrder('0x').btc!, solver: '0x0000000000000000000000000000000000000001' },
    }
    const late = btcOrder(`0x${'c3'.repeat(32)}`, BigInt(Math.floor(Date.now() / 1000) - 1))
    await escrowFacts(store, other, 20n)
    await escrowFacts(store, late, 21n)
    const before = await btcd.rpc.listUnspent(wallet.address)
    await solver(
      store,
      btcPayer({
        chain: BITCOIN_CHAIN_IDS.regtest,
        rpc: btcd.rpc,
        wallet,
        fallbackFeeRate: 2,
        maxFeeRate: 50,
      }),
    ).tick()
    expect(await store.getOrder(other.id)).toBeUndefined()
    expect((await store.getOrder(late.id))?.state).toBe('settled')
    expect(await store.getSubmission(BITCOIN_CHAIN_IDS.regtest, `btc-pay:${late.id}`)).toBeUndefined()
    expect((await btcd.rpc.listUnspent(wallet.address)).length).toBe(before.length)
    await store.close()
  }, 60_000)
})
