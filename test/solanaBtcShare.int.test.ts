import { secp256k1 } from '@noble/curves/secp256k1'
import { getAddressDecoder, getBase58Encoder, lamports, type Address } from '@solana/kit'
import { payments, script as bscript } from 'bitcoinjs-lib'
import { Gauge, Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BITCOIN_CHAIN_IDS, bitcoinConfigSchema } from '../adapters/bitcoin/config.js'
import { btcPayer } from '../adapters/bitcoin/payer.js'
import { BtcWallet } from '../adapters/bitcoin/wallet.js'
import { signSolanaQuote } from '../adapters/solana/btcQuote.js'
import { solanaChainConfigSchema } from '../adapters/solana/config.js'
import type { SolanaKey } from '../adapters/solana/keys.js'
import { releaseReceipt } from '../adapters/solana/release.js'
import { solanaRuntime } from '../adapters/solana/runtime.js'
import { solanaSolverChain } from '../adapters/solana/solverChain.js'
import { startBtcd, type Btcd } from '../devkit/chains/btcd.js'
import { startSolanaVault, type SolanaVaultBed } from '../devkit/chains/solanaVault.js'
import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { buildBtcRail } from '../src/app/bitcoin.js'
import type { BtcPayoutRail } from '../src/btcRail.js'
import type { ChainEvent, Cosigner, VaultChainRuntime } from '../src/chains.js'
import { generateEd25519 } from '../src/ed25519.js'
import { silentLogger } from '../src/log.js'
import { satsOwed, type OrderTerms } from '../src/order.js'
import { onChainEvent } from '../src/orders/lifecycle.js'
import { cosignRequests } from '../src/relay/cosignRequests.js'
import type { Settlement } from '../src/settlement.js'
import { Solver, type BtcPayer } from '../src/solver/solver.js'
import { SqliteStore } from '../src/store/sqlite.js'
import type { Store } from '../src/store/store.js'
import { btcLegProblem } from '../src/vault/btcLegCheck.js'
import { encodeOrderMemo } from '../src/vault/orderMemo.js'
import type { ReleaseLeg } from '../src/vault/releaseLeg.js'
import { tempDir } from './support/tmp.js'

/**
 * A Solana vault order whose provider is paid in BTC, on litesvm and btcd:
 * three relayers (2 of 3 sign a release), each judging payouts from its own
 * Bitcoin source, and the real solver paying from its own wallet. Peers
 * answer co-signing requests in process, through the same handler the peer
 * route calls (the devnet runs it over HTTP).
 */
const CHAIN = 'solana:litesvm'
const CONFIRMATIONS = 6
const AMOUNT = 10_000_000n
const RATE = 10n ** 16n
const tmp = tempDir()
const addressOf = (hex: string): Address => getAddressDecoder().decode(Buffer.from(hex.slice(2), 'hex'))
const newKey = (): SolanaKey => {
  const { signer } = generateEd25519()
  return { address: addressOf(signer.publicKey), signer }
}
const keys = [newKey(), newKey(), newKey()]
const solverKey = newKey()
const ids = ['relayer-1', 'relayer-2', 'relayer-3']
const feeRecipient = newKey().address
const provider = newKey().address
const scriptOf = () =>
  Buffer.from(
    payments.p2wpkh({ pubkey: secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true) }).output!,
  ).toString('hex')
const providerScript = scriptOf()

let btcd: Btcd
let wallet: BtcWallet
let bed: SolanaVaultBed
const stores: Store[] = []
const runtimes: VaultChainRuntime[] = []
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
  bed = await startSolanaVault(
    keys.map((k) => k.address),
    2,
  )
  // Blocks dated now, as a cluster dates them: the quote's bounds are judged at the deposit's block time.
  bed.rpc.svm.setClock(
    Object.assign(bed.rpc.svm.getClock(), { unixTimestamp: BigInt(Math.floor(Date.now() / 1000)) }),
  )
  const bitcoin = bitcoinConfigSchema.parse({
    network: 'regtest',
    rpc: { url: btcd.rpcUrl, user: btcd.user, password: { env: 'BTCD_PASSWORD' } },
    confirmations: CONFIRMATIONS,
  })
  for (const [i, k] of keys.entries()) {
    bed.rpc.svm.airdrop(k.address, lamports(10_000_000_000n))
    const nonceAccount = await bed.nonceAccount(k.address)
    const store = new SqliteStore(`${tmp.dir}/r${i}.db`)
    stores.push(store)
    rails.push(buildBtcRail(bitcoin, store, { BTCD_PASSWORD: btcd.password }, tmp.dir)!)
    runtimes.push(
      solanaRuntime({
        config: solanaChainConfigSchema.parse({
          family: 'solana',
          id: CHAIN,
          rpc: [bed.rpc.url],
          vault: bed.vault,
          mint: bed.mint,
          multisig: bed.multisig,
          receiptMint: bed.receiptMint,
          nonceAccount,
          key: { env: 'UNUSED' },
          feeRecipient,
          maxPayoutSats: '10000000',
        }),
        key: k,
        members: new Map(ids.map((id, j) => [id, keys[j]!.address])),
        store,
        logger: silentLogger(),
        cosign,
        pollMs: 20,
      }),
    )
    handlers.push(
      cosignRequests({
        store,
        chains: [runtimes[i]!],
        rail: rails[i]!,
        bitcoinCaughtUp: () => true,
        nowMs: () => relayersNow,
      }),
    )
  }
}, 900_000)
afterAll(async () => {
  await btcd?.stop()
  await bed?.stop()
  for (const s of stores) await s.close()
  tmp.cleanup()
})

const tokens = async (owner: Address) => {
  const acc = bed.rpc.svm.getAccount(await bed.tokenAccount(owner))
  return acc.exists ? Buffer.from(acc.data).readBigUInt64LE(64) : 0n
}
const vaultTokens = () => {
  const acc = bed.rpc.svm.getAccount(bed.vault)
  return acc.exists ? Buffer.from(acc.data).readBigUInt64LE(64) : 0n
}
const receiptFrozen = async (orderId: OrderTerms['id']) => {
  const acc = bed.rpc.svm.getAccount(await releaseReceipt(orderId, bed.receiptMint, 'btc-share'))
  return acc.exists && acc.data[108] === 2
}

/** The transactions holding coins of the provider's script. */
const providerCoins = async () =>
  (
    await btcd.rpc.listUnspent(
      payments.p2wpkh({ output: Buffer.from(providerScript, 'hex'), network: wallet.network }).address!,
    )
  ).map((u) => u.txid)

/** Reads the vault into `store` with `watcher`, as a watch loop does, and returns what it read. */
async function readVault(store: Store, watcher: VaultChainRuntime['watcher']): Promise<ChainEvent[]> {
  const read: ChainEvent[] = []
  for (;;) {
    const from = await store.getCheckpoint(CHAIN)
    const r = await watcher.poll(from)
    await store.commitEvents(CHAIN, r.events, r.checkpoint)
    read.push(...r.events)
    if (from && r.checkpoint.hash === from.hash) return read
  }
}

/** Every relayer reads the vault and applies what it read to its orders, as its lifecycle does. */
async function relayersRead(): Promise<ChainEvent[][]> {
  return Promise.all(
    stores.map(async (store, i) => {
      const events = await readVault(store, runtimes[i]!.watcher)
      for (const e of events) {
        if (!('orderId' in e)) continue
        const t = onChainEvent(await store.getOrder(e.orderId), e)
        if (t) await store.transitionOrder(e.orderId, t.from, t.to, t.patch, Date.now())
      }
      return events
    }),
  )
}

/**
 * A renter's deposit carrying the solver's quote, opened by every relayer's watcher, settled 70% up with a
 * 1% fee and released at settlement: what the vault keeps back is the provider's share, owed in BTC.
 */
async function settledBtcOrder(deadlineIn: number): Promise<{ order: OrderTerms; settlement: Settlement }> {
  const nowS = BigInt(Math.floor(Date.now() / 1000))
  const renter = await bed.renter(AMOUNT)
  const salt = crypto.getRandomValues(new Uint8Array(16))
  const { vaultOrderId } = await import('../src/vault/orderMemo.js')
  const orderId = vaultOrderId(CHAIN, renter.wallet.address, salt)
  const quote = {
    script: Uint8Array.from(Buffer.from(providerScript, 'hex')),
    solver: Uint8Array.from(getBase58Encoder().encode(solverKey.address)),
    satsPerE18: RATE,
    payoutDeadline: nowS + BigInt(deadlineIn),
    maxAmount: AMOUNT,
    openBy: nowS + 600n,
    latestEnd: nowS + 3_600n,
  }
  const signature = signSolanaQuote(
    solverKey.signer,
    { chain: CHAIN, vault: bed.vault, orderId, token: bed.mint },
    quote,
  )
  const memo = encodeOrderMemo({
    salt,
    providerId: `0x${'cd'.repeat(32)}`,
    start: nowS + 60n,
    slotLength: 60,
    slots: 10,
    gpu: REFERENCE_ORDER_GPU,
    amount: AMOUNT,
    payout: Uint8Array.from(getBase58Encoder().encode(provider)),
    quote: { ...quote, signature },
  })
  await bed.send([bed.transferChecked(renter, bed.vault, AMOUNT), bed.memo(memo)])
  const [read] = await relayersRead()
  const opened = read!.find(
    (e): e is Extract<ChainEvent, { kind: 'OrderOpened' }> => e.kind === 'OrderOpened',
  )!
  const order = opened.order
  const fee = AMOUNT / 100n
  const toProvider = ((AMOUNT - fee) * 7n) / 10n
  const settlement: Settlement = {
    orderId: order.id,
    toProvider,
    toRenter: AMOUNT - fee - toProvider,
    fee,
    feeRecipient,
    upSlots: 7,
    totalSlots: 10,
    heartbeatRoot: `0x${'11'.repeat(32)}`,
  }
  for (const store of stores) {
    await store.insertOrder(order, Date.now())
    await store.transitionOrder(order.id, ['opened'], 'settling', { settlement }, Date.now())
  }
  const attested = await Promise.all([0, 1].map((i) => runtimes[i]!.signSettlement(order, settlement)))
  await runtimes[0]!.submitSettlement(order, settlement, attested)
  await relayersRead()
  return { order, settlement }
}

/** `from` pays `outputs` tagged `tag` (and `extraTags` as further OP_RETURN outputs), mined `depth` deep. */
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

/** A byzantine submitter (relayer-1 skipping its own check) asks the honest others to release the share for `leg`. */
const byzantineRelease = (o: { order: OrderTerms; settlement: Settlement }, leg: ReleaseLeg) =>
  runtimes[0]!.releaseBtcShare!(o.order, o.settlement, leg).then(
    () => 'released',
    (err: Error) => err.message,
  )

describe('a Solana vault order whose provider is paid in BTC (litesvm + btcd)', () => {
  let a: { order: OrderTerms; settlement: Settlement }

  it('opens from a quote-bearing deposit and keeps the provider share in the vault at settlement', async () => {
    const vaultBefore = vaultTokens()
    a = await settledBtcOrder(4 * 3_600)
    expect(a.order.btc).toMatchObject({ script: providerScript, solver: solverKey.address, satsPerE18: RATE })
    expect(await tokens(feeRecipient)).toBe(a.settlement.fee)
    expect(await tokens(provider)).toBe(0n)
    expect(vaultTokens()).toBe(vaultBefore + a.settlement.toProvider)
    for (const store of stores) expect((await store.getOrder(a.order.id))?.state).toBe('payout-pending')
  }, 120_000)

  it('refuses, at every honest relayer, a payout one sat short, to another script, for another order, tagged twice, too shallow, or made up', async () => {
    const owed = satsOwed(a.order.btc!, a.settlement.toProvider)
    expect(owed).toBe(69_300n)
    const other = `0x${'ee'.repeat(32)}`
    const bad: [ReleaseLeg, string][] = [
      [await pay([{ script: providerScript, value: owed - 1n }], a.order.id), 'UNDERPAID'],
      [await pay([{ script: scriptOf(), value: owed }], a.order.id), 'UNDERPAID'],
      [await pay([{ script: providerScript, value: owed }], other), 'NOT_TAGGED_FOR_ORDER'],
      [
        await pay([{ script: providerScript, value: 2n * owed }], a.order.id, 6, [other]),
        'MORE_THAN_ONE_TAG',
      ],
      [
        await pay([{ script: providerScript, value: owed }], a.order.id, CONFIRMATIONS - 1),
        'PAYOUT_NOT_PROVED',
      ],
      [{ kind: 'btc-solver', btcTxid: 'ab'.repeat(32), btcBlock: 'cd'.repeat(32) }, 'PAYOUT_NOT_PROVED'],
    ]
    const vault = vaultTokens()
    for (const [leg, why] of bad) {
      const record = (await stores[0]!.getOrder(a.order.id))!
      const own = await btcLegProblem(record, leg, { rail: rails[0], bitcoinCaughtUp: true, nowS: 0n })
      expect(own?.split(':')[0]).toBe(why)
      const refused = await byzantineRelease(a, leg)
      expect(refused).toContain('no 1 co-signers')
      expect(refused).toContain(`relayer-2: release of ${a.order.id}: its BTC share is not released: ${why}`)
      expect(refused).toContain(`relayer-3: release of ${a.order.id}: its BTC share is not released: ${why}`)
    }
    expect(await tokens(solverKey.address)).toBe(0n)
    expect(vaultTokens()).toBe(vault)
    expect(await receiptFrozen(a.order.id)).toBe(false)
  }, 180_000)

  it('the solver pays once, a crash between storing and broadcasting included, and the quorum repays it from the vault once', async () => {
    const solverStore = new SqliteStore(`${tmp.dir}/solver.db`)
    const config = solanaChainConfigSchema.parse({
      family: 'solana',
      id: CHAIN,
      rpc: [bed.rpc.url],
      vault: bed.vault,
      mint: bed.mint,
      multisig: bed.multisig,
      receiptMint: bed.receiptMint,
      key: { env: 'UNUSED' },
      maxPayoutSats: '10000000',
    })
    const chain = solanaSolverChain(
      config,
      { family: 'solana', address: solverKey.address, key: solverKey },
      undefined,
      silentLogger(),
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
        addresses: new Map([[CHAIN, chain.address]]),
        tokens: new Map([[CHAIN, chain.tokens]]),
        minPayoutWindowSeconds: 3_600,
        watchers: [],
        payer,
        store: solverStore,
        liquidity: new Gauge({ name: 'liquidity', help: 'x', registers: [new Registry()] }),
        logger: silentLogger(),
      })
    const before = await providerCoins()
    await readVault(solverStore, chain.watch(solverStore))
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
    const record = (await stores[0]!.getOrder(a.order.id))!
    expect(
      await btcLegProblem(record, leg, {
        rail: rails[0],
        bitcoinCaughtUp: true,
        nowS: BigInt(Math.floor(Date.now() / 1000)),
      }),
    ).toBeUndefined()
    const vault = vaultTokens()
    const outcome = await runtimes[0]!.releaseBtcShare!(a.order, a.settlement, leg)
    expect(outcome.status).toBe('submitted')
    expect(await tokens(solverKey.address)).toBe(a.settlement.toProvider)
    expect(vaultTokens()).toBe(vault - a.settlement.toProvider)
    expect(await receiptFrozen(a.order.id)).toBe(true)
    const read = await relayersRead()
    for (const [i, events] of read.entries()) {
      expect(events.find((e) => e.kind === 'VaultBtcShareReleased')).toMatchObject({
        orderId: a.order.id,
        btcTxid: txid,
      })
      expect(await stores[i]!.getOrder(a.order.id)).toMatchObject({ state: 'settled', btcTxid: txid })
    }
    // Asked again, as the provider's fallback or the same payout once more: nothing more leaves the vault.
    relayersNow = Date.now() + 12 * 3_600_000
    expect(
      (await runtimes[1]!.releaseBtcShare!(a.order, a.settlement, { kind: 'btc-fallback' })).status,
    ).toBe('already-settled')
    // A co-signer asked for it all the same refuses before it looks at any message.
    const asked = await handlers[1]!(a.order.id, 'AA==', { kind: 'btc-fallback' }).catch((err: Error) => err)
    expect(asked).toMatchObject({ code: 'COSIGN_REFUSED', context: { reason: 'NOT_PAYOUT_PENDING' } })
    expect(await tokens(provider)).toBe(0n)
    expect(await tokens(solverKey.address)).toBe(a.settlement.toProvider)
    relayersNow = Date.now()
    await solverStore.close()
  }, 180_000)

  it("refuses a payout reused for a second order, and with no payout by the proof window's end pays the provider", async () => {
    relayersNow = Date.now()
    const b = await settledBtcOrder(2 * 3_600)
    const reused = (await stores[0]!.getOrder(a.order.id))!.btcTxid!
    const { blockhash } = await btcd.rpc.getTransaction(reused)
    const refused = await byzantineRelease(b, { kind: 'btc-solver', btcTxid: reused, btcBlock: blockhash! })
    expect(refused).toContain('NOT_TAGGED_FOR_ORDER')
    // Before the window closes the provider is not paid: a payout may still come.
    expect(await byzantineRelease(b, { kind: 'btc-fallback' })).toContain(
      'PROOF_WINDOW_OPEN_OR_BITCOIN_BEHIND',
    )
    expect(await tokens(provider)).toBe(0n)
    relayersNow = Date.now() + 9 * 3_600_000
    const outcome = await runtimes[2]!.releaseBtcShare!(b.order, b.settlement, { kind: 'btc-fallback' })
    expect(outcome.status).toBe('submitted')
    expect(await tokens(provider)).toBe(b.settlement.toProvider)
    expect(await tokens(solverKey.address)).toBe(a.settlement.toProvider)
    const read = await relayersRead()
    expect(read[0]!.find((e) => e.kind === 'VaultBtcShareReleased')).toMatchObject({ orderId: b.order.id })
    expect((await stores[0]!.getOrder(b.order.id))?.state).toBe('settled')
    relayersNow = Date.now()
  }, 180_000)
})
