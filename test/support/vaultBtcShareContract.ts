import { secp256k1 } from '@noble/curves/secp256k1'
import { payments, script as bscript } from 'bitcoinjs-lib'
import { Gauge, Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BITCOIN_CHAIN_IDS, bitcoinConfigSchema } from '../../adapters/bitcoin/config.js'
import { btcPayer } from '../../adapters/bitcoin/payer.js'
import { BtcWallet } from '../../adapters/bitcoin/wallet.js'
import { startBtcd, type Btcd } from '../../devkit/chains/btcd.js'
import { buildBtcRail } from '../../src/app/bitcoin.js'
import type { BtcPayoutRail } from '../../src/btcRail.js'
import type { ChainEvent, Checkpoint, Cosigner, VaultChainRuntime } from '../../src/chains.js'
import type { SolverChain } from '../../src/family.js'
import { silentLogger } from '../../src/log.js'
import { satsOwed, type Hex32, type OrderTerms } from '../../src/order.js'
import { consumeEvents } from '../../src/orders/eventFeed.js'
import { onChainEvent, type Transition } from '../../src/orders/lifecycle.js'
import { BtcPayouts } from '../../src/relay/btcPayouts.js'
import type { RelayerContext } from '../../src/relay/context.js'
import { cosignRequests } from '../../src/relay/cosignRequests.js'
import type { Settlement } from '../../src/settlement.js'
import { Solver, type BtcPayer } from '../../src/solver/solver.js'
import { SqliteStore } from '../../src/store/sqlite.js'
import type { Store } from '../../src/store/store.js'
import { btcLegProblem } from '../../src/vault/btcLegCheck.js'
import type { ReleaseLeg } from '../../src/vault/releaseLeg.js'
import { runWatchLoop } from '../../src/watchLoop.js'
import { tempDir } from './tmp.js'

/** The quote's terms as the bed's solver signs them into a deposit's memo. */
export interface QuoteTerms {
  script: string
  satsPerE18: bigint
  payoutDeadline: bigint
  maxAmount: bigint
  openBy: bigint
  latestEnd: bigint
}

/**
 * A vault chain with three relayers (2 of 3 sign a release) that take BTC
 * orders, each with its own store its watch loop keeps reading the vault into,
 * and a solver's key there.
 */
export interface VaultBtcBed {
  chain: string
  runtimes: VaultChainRuntime[]
  stores: Store[]
  provider: string
  feeRecipient: string
  /** The solver's view of the chain: its watcher, and where the vault repays it. */
  solver: SolverChain
  /** A new renter deposits `amount` with an order memo carrying the solver's quote, signed by the bed's solver key (`forged`: by another key). */
  depositQuoted(o: { amount: bigint; start: bigint; quote: QuoteTerms; forged?: boolean }): Promise<void>
  /** Resolves once `store` has read the vault up to the chain's head now. */
  caughtUp(store: Store): Promise<void>
  balance(owner: string): Promise<bigint>
  vaultBalance(): Promise<bigint>
  stop(): Promise<void>
}

const CONFIRMATIONS = 6
const AMOUNT = 10_000_000n
const RATE = 10n ** 16n

/**
 * What every vault chain that takes BTC orders must do, on btcd and the
 * chain's own local node: keep the provider's share at settlement; repay the
 * solver once, against a real payout every honest co-signer proves from its
 * own Bitcoin source; refuse a payout one sat short, to another script, for
 * another order, tagged twice, too shallow, made up or reused, with nothing
 * released; and pay the provider after the proof window with no payout. Peers
 * answer co-signing requests in process, through the handler the peer route
 * calls (the devnet runs it over HTTP).
 */
export function vaultBtcShareContract(
  name: string,
  start: (cosign: Cosigner, dir: string) => Promise<VaultBtcBed>,
): void {
  const tmp = tempDir()
  const ids = ['relayer-1', 'relayer-2', 'relayer-3']
  const scriptOf = () =>
    Buffer.from(
      payments.p2wpkh({ pubkey: secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true) }).output!,
    ).toString('hex')
  const providerScript = scriptOf()
  let btcd: Btcd
  let wallet: BtcWallet
  let bed: VaultBtcBed
  const rails: BtcPayoutRail[] = []
  /** The relayers' clock, moved past a proof window for the fallback. */
  let relayersNow = Date.now()
  const handlers: ReturnType<typeof cosignRequests>[] = []
  const cosign: Cosigner = (id, orderId, message, leg) => handlers[ids.indexOf(id)]!(orderId, message, leg)

  beforeAll(async () => {
    wallet = BtcWallet.fromKeyText(BtcWallet.generateWif('regtest'), 'regtest')
    btcd = await startBtcd({ miningAddress: wallet.address })
    // Segwit activates on regtest after three 144-block windows; coinbases mature after 100.
    await btcd.rpc.mine(440)
    bed = await start(cosign, tmp.dir)
    const bitcoin = bitcoinConfigSchema.parse({
      network: 'regtest',
      rpc: { url: btcd.rpcUrl, user: btcd.user, password: { env: 'BTCD_PASSWORD' } },
      confirmations: CONFIRMATIONS,
    })
    for (const [i, store] of bed.stores.entries()) {
      rails.push(buildBtcRail(bitcoin, store, { BTCD_PASSWORD: btcd.password }, tmp.dir)!)
      handlers.push(
        cosignRequests({
          store,
          chains: [bed.runtimes[i]!],
          rail: rails[i]!,
          bitcoinCaughtUp: () => true,
          nowMs: () => relayersNow,
        }),
      )
    }
  }, 1_800_000)
  afterAll(async () => {
    await bed?.stop()
    await btcd?.stop()
    tmp.cleanup()
  })

  /** Every relayer's store read up to now, what it read applied to its orders as its lifecycle does. */
  async function relayersRead(): Promise<ChainEvent[][]> {
    return Promise.all(
      bed.stores.map(async (store) => {
        await bed.caughtUp(store)
        const read: ChainEvent[] = []
        await consumeEvents(
          store,
          'contract',
          async (e) => {
            read.push(e)
            if (!('orderId' in e)) return
            const t = onChainEvent(await store.getOrder(e.orderId), e)
            if (t) await store.transitionOrder(e.orderId, t.from, t.to, t.patch, Date.now())
          },
          () => undefined,
        )
        return read
      }),
    )
  }

  /** A deposit carrying the solver's quote, opened by every relayer, settled 70% up with a 1% fee and released at settlement. */
  async function settledBtcOrder(
    deadlineIn: number,
    o: { whole?: boolean; staleAt?: number } = {},
  ): Promise<{ order: OrderTerms; settlement: Settlement }> {
    const nowS = BigInt(Math.floor(Date.now() / 1000))
    await bed.depositQuoted({
      amount: AMOUNT,
      start: nowS + 60n,
      quote: {
        script: providerScript,
        satsPerE18: RATE,
        payoutDeadline: nowS + BigInt(deadlineIn),
        maxAmount: AMOUNT,
        openBy: nowS + 600n,
        latestEnd: nowS + 3_600n,
      },
    })
    const [read] = await relayersRead()
    const order = read!.find(
      (e): e is Extract<ChainEvent, { kind: 'OrderOpened' }> => e.kind === 'OrderOpened',
    )!.order
    // `whole`: full uptime with no fee, so the settlement release pays nothing at all.
    const fee = o.whole ? 0n : AMOUNT / 100n
    const toProvider = o.whole ? AMOUNT : ((AMOUNT - fee) * 7n) / 10n
    const settlement: Settlement = {
      orderId: order.id,
      toProvider,
      toRenter: AMOUNT - fee - toProvider,
      fee,
      feeRecipient: bed.feeRecipient,
      upSlots: 7,
      totalSlots: 10,
      heartbeatRoot: `0x${'11'.repeat(32)}`,
    }
    // `staleAt`: that relayer holds another split, as one whose gossip had not converged would.
    const stale = {
      ...settlement,
      toProvider: toProvider / 2n,
      toRenter: settlement.toRenter + toProvider / 2n,
    }
    for (const [i, store] of bed.stores.entries()) {
      await store.insertOrder(order, Date.now())
      const held = i === o.staleAt ? stale : settlement
      await store.transitionOrder(order.id, ['opened'], 'settling', { settlement: held }, Date.now())
    }
    const attested = await Promise.all([0, 1].map((i) => bed.runtimes[i]!.signSettlement(order, settlement)))
    await bed.runtimes[0]!.submitSettlement(order, settlement, attested)
    await relayersRead()
    return { order, settlement }
  }

  /** The test's wallet pays `outputs` tagged `tag` (and `extraTags` as further OP_RETURN outputs), mined `depth` deep. */
  async function pay(
    outputs: { script: string; value: bigint }[],
    tag: string,
    depth = CONFIRMATIONS,
    extraTags: string[] = [],
  ): Promise<Extract<ReleaseLeg, { kind: 'btc-solver' }>> {
    const extra = extraTags.map((t) => ({
      script: Uint8Array.from(bscript.compile([bscript.OPS.OP_RETURN, Buffer.from(t.slice(2), 'hex')])),
      value: 0n,
    }))
    const payment = wallet.pay({
      outputs: [...outputs.map((o) => ({ script: Buffer.from(o.script, 'hex'), value: o.value })), ...extra],
      tag: Buffer.from(tag.slice(2), 'hex'),
      utxos: await btcd.rpc.listUnspent(wallet.address),
      feeRate: 2,
    })
    await btcd.rpc.sendRawTransaction(payment.hex)
    const [block] = await btcd.rpc.mine(1)
    if (depth > 1) await btcd.rpc.mine(depth - 1)
    return { kind: 'btc-solver', btcTxid: payment.txid, btcBlock: block! }
  }

  /** The transactions holding coins of the provider's script. */
  const providerCoins = async () =>
    (
      await btcd.rpc.listUnspent(
        payments.p2wpkh({ output: Buffer.from(providerScript, 'hex'), network: wallet.network }).address!,
      )
    ).map((u) => u.txid)

  /** A byzantine submitter (relayer-1, skipping its own check) asks the honest others to release the share for `leg`. */
  const byzantineRelease = (o: { order: OrderTerms; settlement: Settlement }, leg: ReleaseLeg) =>
    bed.runtimes[0]!.releaseBtcShare!(o.order, o.settlement, leg).then(
      () => 'released',
      (err: Error) => err.message,
    )

  describe(`${name}: a vault order whose provider is paid in BTC`, () => {
    let a: { order: OrderTerms; settlement: Settlement }

    it('opens from a quote-bearing deposit and keeps the provider share in the vault at settlement', async () => {
      const vaultBefore = await bed.vaultBalance()
      a = await settledBtcOrder(4 * 3_600)
      expect(a.order.btc).toMatchObject({
        script: providerScript,
        solver: bed.solver.address,
        satsPerE18: RATE,
      })
      expect(await bed.balance(bed.feeRecipient)).toBe(a.settlement.fee)
      expect(await bed.balance(bed.provider)).toBe(0n)
      expect(await bed.vaultBalance()).toBe(vaultBefore + a.settlement.toProvider)
      for (const store of bed.stores) expect((await store.getOrder(a.order.id))?.state).toBe('payout-pending')
    }, 120_000)

    it('refuses, at every honest relayer, a payout one sat short, to another script, for another order, tagged twice, too shallow, or made up', async () => {
      const owed = satsOwed(a.order.btc!, a.settlement.toProvider)
      expect(owed).toBe(69_300n)
      const other: Hex32 = `0x${'ee'.repeat(32)}`
      const bad: [ReleaseLeg, string][] = [
        [await pay([{ script: providerScript, value: owed - 1n }], a.order.id), 'UNDERPAID'],
        [await pay([{ script: scriptOf(), value: owed }], a.order.id), 'UNDERPAID'],
        [await pay([{ script: providerScript, value: owed }], other), 'NOT_TAGGED_FOR_ORDER'],
        [
          await pay([{ script: providerScript, value: 2n * owed }], a.order.id, CONFIRMATIONS, [other]),
          'MORE_THAN_ONE_TAG',
        ],
        [
          await pay([{ script: providerScript, value: owed }], a.order.id, CONFIRMATIONS - 1),
          'PAYOUT_NOT_PROVED',
        ],
        [{ kind: 'btc-solver', btcTxid: 'ab'.repeat(32), btcBlock: 'cd'.repeat(32) }, 'PAYOUT_NOT_PROVED'],
      ]
      const vault = await bed.vaultBalance()
      for (const [leg, why] of bad) {
        const record = (await bed.stores[0]!.getOrder(a.order.id))!
        const own = await btcLegProblem(record, leg, { rail: rails[0], bitcoinCaughtUp: true, nowS: 0n })
        expect(own?.split(':')[0]).toBe(why)
        const refused = await byzantineRelease(a, leg)
        expect(refused).toContain('no 1 co-signers')
        for (const id of ['relayer-2', 'relayer-3'])
          expect(refused).toContain(`${id}: release of ${a.order.id}: its BTC share is not released: ${why}`)
      }
      expect(await bed.balance(bed.solver.address)).toBe(0n)
      expect(await bed.vaultBalance()).toBe(vault)
    }, 300_000)

    it('the solver pays once, a crash between storing and broadcasting included, and the quorum repays it from the vault once', async () => {
      const solverStore = new SqliteStore(`${tmp.dir}/solver.db`)
      const watching = new AbortController()
      void runWatchLoop(
        bed.solver.watch(solverStore),
        { store: solverStore, logger: silentLogger(), intervalMs: 100 },
        watching.signal,
      )
      const real = btcPayer({
        chain: BITCOIN_CHAIN_IDS.regtest,
        rpc: btcd.rpc,
        wallet,
        fallbackFeeRate: 2,
        maxFeeRate: 50,
      })
      const solver = (payer: BtcPayer) =>
        new Solver({
          addresses: new Map([[bed.chain, bed.solver.address]]),
          tokens: new Map([[bed.chain, bed.solver.tokens]]),
          minPayoutWindowSeconds: 3_600,
          watchers: [],
          payer,
          store: solverStore,
          liquidity: new Gauge({ name: 'liquidity', help: 'x', registers: [new Registry()] }),
          logger: silentLogger(),
        })
      try {
        const before = await providerCoins()
        await bed.caughtUp(solverStore)
        // The first process dies between storing the signed payment and broadcasting it.
        await solver({ ...real, broadcast: () => Promise.reject(new Error('killed')) }).tick()
        const stored = await solverStore.getSubmission(BITCOIN_CHAIN_IDS.regtest, `btc-pay:${a.order.id}`)
        expect(stored?.state).toBe('pending')
        const { txid, sats } = stored!.payload as { txid: string; sats: string }
        expect(BigInt(sats)).toBe(satsOwed(a.order.btc!, a.settlement.toProvider))
        const restarted = solver(real)
        await restarted.tick()
        const [block] = await btcd.rpc.mine(CONFIRMATIONS)
        await restarted.tick()
        await restarted.tick()
        expect((await solverStore.getOrder(a.order.id))?.state).toBe('settled')
        expect((await providerCoins()).filter((coin) => !before.includes(coin))).toEqual([txid])

        const leg: ReleaseLeg = { kind: 'btc-solver', btcTxid: txid, btcBlock: block! }
        const record = (await bed.stores[0]!.getOrder(a.order.id))!
        const nowS = BigInt(Math.floor(Date.now() / 1000))
        expect(
          await btcLegProblem(record, leg, { rail: rails[0], bitcoinCaughtUp: true, nowS }),
        ).toBeUndefined()
        const vault = await bed.vaultBalance()
        expect((await bed.runtimes[0]!.releaseBtcShare!(a.order, a.settlement, leg)).status).toBe('submitted')
        expect(await bed.balance(bed.solver.address)).toBe(a.settlement.toProvider)
        expect(await bed.vaultBalance()).toBe(vault - a.settlement.toProvider)
        const read = await relayersRead()
        for (const [i, events] of read.entries()) {
          expect(events.find((e) => e.kind === 'VaultBtcShareReleased')).toMatchObject({
            orderId: a.order.id,
            btcTxid: txid,
          })
          expect(await bed.stores[i]!.getOrder(a.order.id)).toMatchObject({ state: 'settled', btcTxid: txid })
        }
        // Asked again, as the provider's fallback once the window is past: nothing more leaves the vault.
        relayersNow = Date.now() + 12 * 3_600_000
        const again = await bed.runtimes[1]!.releaseBtcShare!(a.order, a.settlement, { kind: 'btc-fallback' })
        expect(again.status).toBe('already-settled')
        const asked = await handlers[2]!(a.order.id, 'AA==', { kind: 'btc-fallback' }).catch(
          (err: Error) => err,
        )
        expect(asked).toMatchObject({ code: 'COSIGN_REFUSED', context: { reason: 'NOT_PAYOUT_PENDING' } })
        expect(await bed.balance(bed.provider)).toBe(0n)
        expect(await bed.balance(bed.solver.address)).toBe(a.settlement.toProvider)
      } finally {
        relayersNow = Date.now()
        watching.abort()
        await solverStore.close()
      }
    }, 300_000)

    it('refunds a deposit whose quote another key signed, or whose order it does not cover', async () => {
      const nowS = BigInt(Math.floor(Date.now() / 1000))
      const quote: QuoteTerms = {
        script: providerScript,
        satsPerE18: RATE,
        payoutDeadline: nowS + 4n * 3_600n,
        maxAmount: AMOUNT,
        openBy: nowS + 600n,
        latestEnd: nowS + 3_600n,
      }
      const attempts: [Partial<QuoteTerms> & { forged?: boolean }, string][] = [
        [{ forged: true }, 'BAD_QUOTE_SIGNATURE'],
        [{ maxAmount: AMOUNT - 1n }, 'AMOUNT_ABOVE_QUOTE'],
        [{ openBy: nowS - 3_600n }, 'QUOTE_EXPIRED'],
        [{ latestEnd: nowS + 600n }, 'ENDS_AFTER_QUOTE'],
        // 2 × 10^18 sats per 10^18 units: 20,000,000 sats owed at most, twice the vault's cap.
        [{ satsPerE18: 2n * 10n ** 18n }, 'PAYOUT_ABOVE_CAP'],
      ]
      for (const [change, why] of attempts) {
        const { forged, ...terms } = change
        await bed.depositQuoted({ amount: AMOUNT, start: nowS + 60n, quote: { ...quote, ...terms }, forged })
        const [read] = await relayersRead()
        expect(read!.filter((e) => e.kind === 'OrderOpened')).toEqual([])
        expect(read!.find((e) => e.kind === 'VaultDepositIgnored')).toMatchObject({
          reason: why,
          amount: AMOUNT,
        })
      }
    }, 300_000)

    it('releases an order owed wholly in BTC by a settlement release paying nothing; a relayer holding another split owes what the vault kept, and a payout tagged for two orders, or for this one twice, never stands in for the real one', async () => {
      const c = await settledBtcOrder(4 * 3_600, { whole: true, staleAt: 2 })
      for (const store of bed.stores) {
        expect(await store.getOrder(c.order.id)).toMatchObject({
          state: 'payout-pending',
          settlement: { toProvider: AMOUNT },
        })
        expect(
          (await store.listOrderEvents(bed.chain as never, c.order.id)).find(
            (e) => e.kind === 'VaultReleased',
          ),
        ).toMatchObject({ payments: [] })
      }
      // The provider (or anyone) pays its own script what is owed, tagged for this order and another; then the solver pays.
      const owed = satsOwed(c.order.btc!, AMOUNT)
      const poison = await pay([{ script: providerScript, value: owed }], c.order.id, 1, [
        `0x${'ee'.repeat(32)}`,
      ])
      // And one tagged for this order twice: no payout of it alone either.
      const twice = await pay([{ script: providerScript, value: owed }], c.order.id, 1, [c.order.id])
      const real = await pay([{ script: providerScript, value: owed }], c.order.id)
      const seen = new BtcPayouts(
        {
          store: bed.stores[2]!,
          log: silentLogger(),
          runtime: () => bed.runtimes[2],
          transition: (id: string, t: Transition) =>
            bed.stores[2]!.transitionOrder(id, t.from, t.to, t.patch, Date.now()),
        } as unknown as RelayerContext,
        rails[2],
        () => true,
      )
      // Bitcoin read up to `confirmations` below its head, as the relayer's watch loop reads it.
      for (let from: Checkpoint | undefined; ;) {
        const r = await rails[2]!.watcher.poll(from)
        for (const e of r.events) if (e.kind === 'BtcPayoutSeen') await seen.seen(e)
        if (r.checkpoint.height === from?.height) break
        from = r.checkpoint
      }
      expect(await bed.stores[2]!.getOrder(c.order.id)).toMatchObject({
        btcTxid: real.btcTxid,
        btcSats: owed,
      })
      expect([poison.btcTxid, twice.btcTxid]).not.toContain(real.btcTxid)
      // The relayer that held another split submits: every co-signer rebuilds the same release of what the vault kept.
      const solverBefore = await bed.balance(bed.solver.address)
      const outcome = await bed.runtimes[2]!.releaseBtcShare!(
        c.order,
        (await bed.stores[2]!.getOrder(c.order.id))!.settlement!,
        real,
      )
      expect(outcome.status).toBe('submitted')
      expect(await bed.balance(bed.solver.address)).toBe(solverBefore + AMOUNT)
    }, 300_000)

    it("refuses a payout reused for a second order, and with no payout by the proof window's end pays the provider", async () => {
      const solverBefore = await bed.balance(bed.solver.address)
      const b = await settledBtcOrder(2 * 3_600)
      const reused = (await bed.stores[0]!.getOrder(a.order.id))!.btcTxid!
      const { blockhash } = await btcd.rpc.getTransaction(reused)
      const refused = await byzantineRelease(b, { kind: 'btc-solver', btcTxid: reused, btcBlock: blockhash! })
      expect(refused).toContain('NOT_TAGGED_FOR_ORDER')
      // Before the window closes the provider is not paid: a payout may still come.
      expect(await byzantineRelease(b, { kind: 'btc-fallback' })).toContain(
        'PROOF_WINDOW_OPEN_OR_BITCOIN_BEHIND',
      )
      expect(await bed.balance(bed.provider)).toBe(0n)
      try {
        relayersNow = Date.now() + 9 * 3_600_000
        const outcome = await bed.runtimes[2]!.releaseBtcShare!(b.order, b.settlement, {
          kind: 'btc-fallback',
        })
        expect(outcome.status).toBe('submitted')
      } finally {
        relayersNow = Date.now()
      }
      expect(await bed.balance(bed.provider)).toBe(b.settlement.toProvider)
      expect(await bed.balance(bed.solver.address)).toBe(solverBefore)
      const read = await relayersRead()
      expect(read[0]!.find((e) => e.kind === 'VaultBtcShareReleased')).toMatchObject({ orderId: b.order.id })
      expect((await bed.stores[0]!.getOrder(b.order.id))?.state).toBe('settled')
    }, 300_000)
  })
}
