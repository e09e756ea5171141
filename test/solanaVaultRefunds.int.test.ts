import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getAddressDecoder, getBase58Encoder, lamports, type Address } from '@solana/kit'
import { solanaChainConfigSchema } from '../adapters/solana/config.js'
import type { SolanaKey } from '../adapters/solana/keys.js'
import { solanaRuntime } from '../adapters/solana/runtime.js'
import type { ChainEvent, ChainRuntime } from '../src/chains.js'
import { generateEd25519 } from '../src/ed25519.js'
import { createSafeHttp } from '../src/http/safeHttp.js'
import { silentLogger } from '../src/log.js'
import { createMetrics } from '../src/metrics.js'
import { ProviderRegistry } from '../src/registry/registry.js'
import { Prober } from '../src/relay/prober.js'
import { Relayer } from '../src/relay/relayer.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { encodeOrderMemo, vaultOrderId } from '../src/vault/orderMemo.js'
import { refundOrderId } from '../src/vault/refund.js'
import { startSolanaVault, type SolanaVaultBed } from '../devkit/chains/solanaVault.js'
import { tempDir } from './support/tmp.js'
import { waitFor } from '../devkit/waitFor.js'

// One relayer, a 1-of-1 vault: the real watcher, runtime, store and relayer core, on litesvm.
const CHAIN = 'solana:litesvm'
const tmp = tempDir()
const logger = silentLogger()
const addressOf = (hex: string): Address => getAddressDecoder().decode(Buffer.from(hex.slice(2), 'hex'))
const identity = generateEd25519().signer
const key: SolanaKey = (() => {
  const { signer } = generateEd25519()
  return { address: addressOf(signer.publicKey), signer }
})()
const provider = addressOf(generateEd25519().signer.publicKey)
let bed: SolanaVaultBed
let nonceAccount: Address

beforeAll(async () => {
  bed = await startSolanaVault([key.address], 1)
  bed.rpc.svm.airdrop(key.address, lamports(10_000_000_000n))
  nonceAccount = await bed.nonceAccount(key.address)
})
afterAll(async () => {
  await bed?.stop()
  tmp.cleanup()
})

function relayerOn(store: SqliteStore, runtime: ChainRuntime): Relayer {
  const httpOptions = { timeoutMs: 1_000, maxBytes: 64 * 1024, allowPrivate: true }
  const http = createSafeHttp(httpOptions)
  const metrics = createMetrics()
  const registry = new ProviderRegistry({ store, http, httpOptions, logger })
  const prober = new Prober({
    relayerId: 'relayer-1',
    identity,
    relayerKeys: new Map([['relayer-1', identity.publicKey]]),
    store,
    registry,
    http,
    httpOptions,
    concurrency: 4,
    perHostConcurrency: 2,
    maxSkewMs: 30_000,
    metrics,
    logger,
  })
  return new Relayer({
    relayerId: 'relayer-1',
    members: ['relayer-1'],
    threshold: 1,
    // The dev kit's CPU reference device is what these providers report.
    acceptTestGpuClasses: true,
    feeBps: 0,
    graceSeconds: 0,
    refundAfterSeconds: 1,
    store,
    chains: [runtime],
    prober,
    metrics,
    logger,
    tickMs: 50,
  })
}

function runtimeOn(store: SqliteStore, over: Record<string, unknown> = {}): ChainRuntime {
  const config = solanaChainConfigSchema.parse({
    family: 'solana',
    id: CHAIN,
    rpc: [bed.rpc.url],
    vault: bed.vault,
    mint: bed.mint,
    multisig: bed.multisig,
    receiptMint: bed.receiptMint,
    nonceAccount,
    key: { env: 'UNUSED' },
    pollIntervalMs: 50,
    ...over,
  })
  return solanaRuntime({
    config,
    key,
    members: new Map([['relayer-1', key.address]]),
    store,
    logger,
    cosign: () => Promise.reject(new Error('a 1-of-1 vault needs no co-signer')),
    pollMs: 20,
  })
}

const tokens = async (owner: Address) => {
  const acc = bed.rpc.svm.getAccount(await bed.tokenAccount(owner))
  return acc.exists ? Buffer.from(acc.data).readBigUInt64LE(64) : 0n
}

/** One poll of the watcher, committed as the watch loop commits it: the relayer's ticker has not run. */
async function pollOnce(store: SqliteStore, runtime: ChainRuntime): Promise<ChainEvent[]> {
  const r = await runtime.watcher.poll(await store.getCheckpoint(CHAIN))
  await store.commitEvents(CHAIN, r.events, r.checkpoint)
  return r.events
}

describe('Solana vault refunds, through the relayer core, on litesvm', () => {
  it('refunds a second deposit of an order id read before the relayer applied the first: one order, one refund, nothing left in the vault', async () => {
    const store = new SqliteStore(`${tmp.dir}/duplicate.db`)
    const runtime = runtimeOn(store)
    const amount = 3_000_000n
    const renter = await bed.renter(2n * amount)
    const start = BigInt(Math.floor(Date.now() / 1000))
    // The renter sends the same memo twice (a retry): the same order id.
    const salt = crypto.getRandomValues(new Uint8Array(16))
    const orderId = vaultOrderId(CHAIN, renter.wallet.address, salt)
    const memo = encodeOrderMemo({
      salt,
      providerId: `0x${'cd'.repeat(32)}`,
      start,
      slotLength: 1,
      slots: 1,
      gpu: REFERENCE_ORDER_GPU,
      amount,
      payout: Uint8Array.from(getBase58Encoder().encode(provider)),
    })
    const first = await bed.send([bed.transferChecked(renter, bed.vault, amount), bed.memo(memo)])
    const firstEvents = await pollOnce(store, runtime)
    const second = await bed.send([bed.transferChecked(renter, bed.vault, amount), bed.memo(memo)])
    // Read in a later poll, before any tick applied the first: the orders table is still empty.
    const secondEvents = await pollOnce(store, runtime)
    expect(await store.listOrders()).toEqual([])
    expect(firstEvents.map((e) => [e.kind, e.txHash])).toEqual([['OrderOpened', first]])
    expect(secondEvents).toMatchObject([
      {
        kind: 'VaultDepositIgnored',
        txHash: second,
        reason: 'DUPLICATE_ORDER',
        sender: renter.wallet.address,
        amount,
      },
    ])
    expect(await tokens(bed.multisig)).toBe(2n * amount)

    const stop = new AbortController()
    const running = relayerOn(store, runtime).run(stop.signal)
    try {
      const refundId = refundOrderId(CHAIN, second)
      const done = await waitFor(
        async () => {
          const states = await Promise.all(
            [orderId, refundId].map(async (id) => (await store.getOrder(id))?.state),
          )
          return states.every((s) => s === 'settled') ? states : undefined
        },
        'the order and the refund to settle',
        30_000,
      )
      expect(done).toEqual(['settled', 'settled'])
      // The order settled as a no-show (no provider answered): all of it back, as the refund is.
      expect(await tokens(renter.wallet.address)).toBe(2n * amount)
      expect(await tokens(bed.multisig)).toBe(0n)
      // The watcher reads both releases back: each paid the renter its own deposit, once.
      const released = await waitFor(async () => {
        const all = (await store.listEvents({ chain: CHAIN, limit: 10_000 }))
          .map((x) => x.event)
          .filter((e): e is Extract<ChainEvent, { kind: 'VaultReleased' }> => e.kind === 'VaultReleased')
        return all.length >= 2 ? all : undefined
      }, 'the watcher to read both releases')
      expect(released.map((e) => [e.orderId, e.payments]).sort()).toEqual(
        [
          [orderId, [{ owner: renter.wallet.address, amount }]],
          [refundId, [{ owner: renter.wallet.address, amount }]],
        ].sort(),
      )
    } finally {
      stop.abort()
      await running
    }
  })

  it("leaves dust below the chain's minimum refund in the vault, costing the relayers nothing, and refunds a deposit at the minimum", async () => {
    const store = new SqliteStore(`${tmp.dir}/dust.db`)
    const renter = await bed.renter(20_000n)
    // This relayer's vault history starts here: the deposits of the test before are not its business.
    const runtime = runtimeOn(store, {
      minRefund: '1000',
      startSlot: Number(bed.rpc.svm.getClock().slot) + 1,
    })
    // Tokens sent without a memo, the cheapest deposit there is: ten of 999 units, one of 1000.
    const vaultBefore = await tokens(bed.multisig)
    const dust: string[] = []
    for (let i = 0; i < 10; i++) dust.push(await bed.send([bed.transferChecked(renter, bed.vault, 999n)]))
    const enough = await bed.send([bed.transferChecked(renter, bed.vault, 1_000n)])
    const submitterBefore = bed.rpc.svm.getBalance(key.address)!
    const stop = new AbortController()
    const running = relayerOn(store, runtime).run(stop.signal)
    try {
      const refundId = refundOrderId(CHAIN, enough)
      await waitFor(
        async () => ((await store.getOrder(refundId))?.state === 'settled' ? true : undefined),
        'the refund at the minimum to settle',
        30_000,
      )
      const events = (await store.listEvents({ chain: CHAIN, limit: 10_000 })).map((x) => x.event)
      const ignored = events.filter(
        (e): e is Extract<ChainEvent, { kind: 'VaultDepositIgnored' }> =>
          e.kind === 'VaultDepositIgnored' && dust.includes(e.txHash),
      )
      // Reported, each with its amount and no sender: nothing to refund to.
      expect(ignored.map((e) => [e.reason, e.amount, e.sender])).toEqual(
        dust.map(() => ['NO_MEMO', 999n, undefined]),
      )
      expect((await store.listOrders()).map((o) => o.terms.id)).toEqual([refundId])
      expect([await tokens(renter.wallet.address), (await tokens(bed.multisig)) - vaultBefore]).toEqual([
        20_000n - 9_990n,
        9_990n,
      ])
      // One release paid for (one receipt's rent and its fee), not eleven.
      const spent = submitterBefore - bed.rpc.svm.getBalance(key.address)!
      const rent = bed.rpc.svm.minimumBalanceForRentExemption(165n)
      expect(spent).toBeGreaterThanOrEqual(rent)
      expect(spent).toBeLessThan(2n * rent)
    } finally {
      stop.abort()
      await running
    }
  })

  it('pays no release for dust orders that ended before their deposit, refunds an order below the minimum, and settles a real one (security review 2026-12, M1)', async () => {
    const store = new SqliteStore(`${tmp.dir}/ended.db`)
    const renter = await bed.renter(10_000_000n)
    const attacker = await bed.renter(10n)
    const runtime = runtimeOn(store, {
      minRefund: '1000',
      minOrderAmount: '1000000',
      startSlot: Number(bed.rpc.svm.getClock().slot) + 1,
    })
    // Blocks dated now, as a cluster dates them (litesvm's clock starts at 0), until the test ends.
    const now = BigInt(Math.floor(Date.now() / 1000))
    bed.rpc.svm.setClock(Object.assign(bed.rpc.svm.getClock(), { unixTimestamp: now }))
    try {
      const order = (from: typeof renter, amount: bigint, start: bigint) => {
        const salt = crypto.getRandomValues(new Uint8Array(16))
        const memo = encodeOrderMemo({
          salt,
          providerId: `0x${'cd'.repeat(32)}`,
          start,
          slotLength: 1,
          slots: 1,
          gpu: REFERENCE_ORDER_GPU,
          amount,
          payout: Uint8Array.from(getBase58Encoder().encode(provider)),
        })
        return {
          id: vaultOrderId(CHAIN, from.wallet.address, salt),
          send: () => bed.send([bed.transferChecked(from, bed.vault, amount), bed.memo(memo)]),
        }
      }
      const vaultBefore = await tokens(bed.multisig)
      // The attack: ten valid memos of one unit and one slot starting at 0, each a release at once were it an order.
      const dust: string[] = []
      for (let i = 0; i < 10; i++) dust.push(await order(attacker, 1n, 0n).send())
      const small = await order(renter, 5_000n, now + 1n).send()
      const real = order(renter, 1_000_000n, now)
      const realTx = await real.send()
      const submitterBefore = bed.rpc.svm.getBalance(key.address)!
      const stop = new AbortController()
      const running = relayerOn(store, runtime).run(stop.signal)
      try {
        const refundId = refundOrderId(CHAIN, small)
        const states = await waitFor(
          async () => {
            const s = await Promise.all(
              [real.id, refundId].map(async (id) => (await store.getOrder(id))?.state),
            )
            return s.every((x) => x === 'settled') ? s : undefined
          },
          'the real order and the refund to settle',
          30_000,
        )
        expect(states).toEqual(['settled', 'settled'])
        const events = (await store.listEvents({ chain: CHAIN, limit: 10_000 })).map((x) => x.event)
        const outcome = (txHash: string) =>
          events
            .filter((e) => e.txHash === txHash)
            .map((e) => (e.kind === 'VaultDepositIgnored' ? [e.reason, e.amount, e.sender] : [e.kind]))
        expect(dust.map(outcome)).toEqual(dust.map(() => [['ORDER_ALREADY_ENDED', 1n, undefined]]))
        expect([outcome(small), outcome(realTx)]).toEqual([
          [['BELOW_MIN_ORDER', 5_000n, renter.wallet.address]],
          [['OrderOpened']],
        ])
        expect((await store.listOrders()).map((o) => o.terms.id).sort()).toEqual([real.id, refundId].sort())
        // The real order settled as a no-show and the small one was refunded: the renter has it all back; the dust stays.
        expect([
          await tokens(renter.wallet.address),
          await tokens(attacker.wallet.address),
          (await tokens(bed.multisig)) - vaultBefore,
        ]).toEqual([10_000_000n, 0n, 10n])
        // Two releases paid for (a receipt's rent each, and fees), not twelve.
        const spent = submitterBefore - bed.rpc.svm.getBalance(key.address)!
        const rent = bed.rpc.svm.minimumBalanceForRentExemption(165n)
        expect(spent).toBeGreaterThanOrEqual(2n * rent)
        expect(spent).toBeLessThan(3n * rent)
      } finally {
        stop.abort()
        await running
      }
    } finally {
      bed.rpc.svm.setClock(Object.assign(bed.rpc.svm.getClock(), { unixTimestamp: 0n }))
    }
  })
})
