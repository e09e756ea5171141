import { encodeReleaseMemo } from '../src/vault/releaseMemo.js'
import { secp256k1 } from '@noble/curves/secp256k1'
import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { sha256 } from '@noble/hashes/sha2'
import { createMultisigThresholdPubkey, pubkeyToAddress, serializeSignDoc } from '@cosmjs/amino'
import { fromBech32, toBech32 } from '@cosmjs/encoding'
import { DirectSecp256k1Wallet } from '@cosmjs/proto-signing'
import { SigningStargateClient, type MsgSendEncodeObject } from '@cosmjs/stargate'
import { cosmosChainConfigSchema } from '../adapters/cosmos/config.js'
import { cosmosKeyFromSecret, type CosmosKey } from '../adapters/cosmos/keys.js'
import {
  releaseFee,
  releaseSignDoc,
  type CosmosRelease,
  type CosmosVaultState,
} from '../adapters/cosmos/release.js'
import { cosmosRuntime } from '../adapters/cosmos/runtime.js'
import { startSimd, type Simd } from '../devkit/chains/simd.js'
import { FEE_RESERVE_MEMO } from '../adapters/cosmos/watcher.js'
import type { ChainEvent, VaultChainRuntime, Cosigner, SettlementSignature } from '../src/chains.js'
import { isQantaraError } from '../src/errors.js'
import { silentLogger } from '../src/log.js'
import type { OrderTerms } from '../src/order.js'
import type { Settlement } from '../src/settlement.js'
import { SqliteStore } from '../src/store/sqlite.js'
import type { Store } from '../src/store/store.js'
import { encodeOrderMemo, vaultOrderId } from '../src/vault/orderMemo.js'
import { refundOrder } from '../src/vault/refund.js'
import { runWatchLoop } from '../src/watchLoop.js'
import { dyingStore } from './support/dyingStore.js'
import { tempDir } from './support/tmp.js'
import {
  vaultRuntimeContract,
  type VaultReleased,
  type VaultRuntimeBed,
} from './support/vaultRuntimeContract.js'
import { codeOf } from './support/errors.js'

const USDC = 'ibc/498A0751C798A0D9A389AA3691123DADA57DAA4FE165D5C75894505B876BA6E4'
const CHAIN = 'cosmos:qantara-local'
const GAS_PRICE = '0.001stake'
const tmp = tempDir()
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const ids = ['relayer-1', 'relayer-2', 'relayer-3']
const keys: CosmosKey[] = ids.map(() =>
  cosmosKeyFromSecret({ kind: 'hex', value: hex(random(32)) }, 'cosmos'),
)
const base64 = (k: CosmosKey) => Buffer.from(k.pubkey).toString('base64')
// The on-chain multisig's order: sorted, as `simd keys add --multisig` makes it.
const multisig = createMultisigThresholdPubkey(
  keys.map((k) => ({ type: 'tendermint/PubKeySecp256k1', value: base64(k) })),
  2,
)
const vault = pubkeyToAddress(multisig, 'cosmos')
const provider = toBech32('cosmos', random(20))
const feeRecipient = toBech32('cosmos', random(20))

let simd: Simd
let renter: { client: SigningStargateClient; address: string }
const stores: Store[] = []
let runtimes: VaultChainRuntime[] = []
const watching = new AbortController()
/** The orders and settlements each relayer holds: what its co-signing checks a request against. */
const agreed = new Map<string, { order: OrderTerms; settlement: Settlement }>()

function config(i: number, over: Record<string, unknown> = {}) {
  return cosmosChainConfigSchema.parse({
    family: 'cosmos',
    id: CHAIN,
    rpc: [simd.rpcUrl],
    vault,
    denoms: [USDC],
    gasPrice: GAS_PRICE,
    pollIntervalMs: 100,
    timeoutBlocks: 20,
    multisig: { threshold: 2, pubkeys: multisig.value.pubkeys.map((p) => p.value) },
    key: { env: 'UNUSED' },
    feeRecipient,
    ...over,
  })
}
function runtime(i: number, store: Store, over: Record<string, unknown> = {}): VaultChainRuntime {
  return cosmosRuntime({
    config: config(i, over),
    key: keys[i]!,
    members: new Map(ids.map((id, j) => [id, base64(keys[j]!)])),
    store,
    logger,
    cosign,
    pollMs: 100,
  })
}
/** The runtimes' log lines: the race test reads from them that a release really lost its sequence. */
const logLines: string[] = []
const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) })
const down = new Set<string>()
const cosign: Cosigner = (id, orderId, message) => {
  if (down.has(id)) return Promise.reject(new Error(`${id} is down`))
  const { order, settlement } = agreed.get(orderId)!
  return runtimes[ids.indexOf(id)]!.cosignRelease(order, settlement, message)
}

beforeAll(async () => {
  const wallet = await DirectSecp256k1Wallet.fromKey(random(32), 'cosmos')
  const [account] = await wallet.getAccounts()
  simd = await startSimd({
    accounts: [{ address: account!.address, coins: `100000000000stake,100000000000${USDC}` }],
  })
  renter = {
    client: await SigningStargateClient.connectWithSigner(simd.rpcUrl, wallet, {
      broadcastPollIntervalMs: 200,
    }),
    address: account!.address,
  }
  for (const i of [0, 1, 2]) stores.push(new SqliteStore(`${tmp.dir}/r${i}.db`))
  runtimes = stores.map((s, i) => runtime(i, s))
  // Each relayer's watcher commits what it reads to its own store, as the relayer's watch loop does.
  runtimes.forEach(
    (r, i) =>
      void runWatchLoop(
        r.watcher,
        { store: stores[i]!, logger: silentLogger(), intervalMs: 100 },
        watching.signal,
      ),
  )
  await send([transfer(vault, 10_000_000n, 'stake')], FEE_RESERVE_MEMO)
}, 1_800_000)
afterAll(async () => {
  watching.abort()
  renter?.client.disconnect()
  await simd?.stop()
  tmp.cleanup()
})

const transfer = (to: string, amount: bigint, denom = USDC): MsgSendEncodeObject => ({
  typeUrl: '/cosmos.bank.v1beta1.MsgSend',
  value: { fromAddress: renter.address, toAddress: to, amount: [{ denom, amount: amount.toString() }] },
})
async function send(msgs: MsgSendEncodeObject[], memo: string): Promise<string> {
  const res = await renter.client.signAndBroadcast(renter.address, msgs, { amount: [], gas: '400000' }, memo)
  expect(res.code).toBe(0)
  return res.transactionHash
}
const balance = async (a: string, denom = USDC) => BigInt((await renter.client.getBalance(a, denom)).amount)

/** Waits until every relayer's watcher has read past `hash`'s height. */
async function allRead(hash: string) {
  const { height } = (await renter.client.getTx(hash))!
  for (let i = 0; i < 300; i++) {
    const read = await Promise.all(stores.map((s) => s.getCheckpoint(CHAIN)))
    if (read.every((c) => c && c.height >= BigInt(height))) return
    await new Promise((ok) => setTimeout(ok, 100))
  }
  throw new Error('the watchers did not catch up')
}

/** A deposit the watchers turn into an order, and its 70% settlement with a 1% fee. */
async function settledOrder(amount = 1_000_000n): Promise<{ order: OrderTerms; settlement: Settlement }> {
  // Far ahead of simd's blocks, which are dated now: an order that ended by its deposit's block opens none.
  const memo = {
    salt: random(16),
    providerId: `0x${'cd'.repeat(32)}` as const,
    start: 4_000_000_000n,
    slotLength: 60,
    slots: 10,
    gpu: REFERENCE_ORDER_GPU,
    amount,
    payout: fromBech32(provider).data,
  }
  const hash = await send([transfer(vault, amount)], encodeOrderMemo(memo))
  await allRead(hash)
  const opened = (
    await stores[0]!.listOrderEvents(CHAIN, vaultOrderId(CHAIN, renter.address, memo.salt))
  ).find((e): e is Extract<ChainEvent, { kind: 'OrderOpened' }> => e.kind === 'OrderOpened')!
  const fee = amount / 100n
  const toProvider = ((amount - fee) * 7n) / 10n
  const settlement: Settlement = {
    orderId: opened.order.id,
    toProvider,
    toRenter: amount - fee - toProvider,
    fee,
    feeRecipient,
    upSlots: 7,
    totalSlots: 10,
    heartbeatRoot: `0x${'11'.repeat(32)}`,
  }
  agreed.set(opened.order.id, { order: opened.order, settlement })
  return { order: opened.order, settlement }
}
const attestations = (
  order: OrderTerms,
  settlement: Settlement,
  who: number[],
): Promise<SettlementSignature[]> =>
  Promise.all(who.map((i) => runtimes[i]!.signSettlement(order, settlement)))

/** A co-signing request as a submitter builds it: the release this test expects of the settlement, at the vault's account and (unless told) its current sequence. */
async function releaseRequest(
  order: OrderTerms,
  s: Settlement,
  over: { sequence?: number; timeoutHeight?: string; fee?: unknown } = {},
): Promise<string> {
  const { accountNumber, sequence } = await renter.client.getSequence(vault)
  const fee = releaseFee({ gasPrice: GAS_PRICE, gasLimit: 400_000 })
  const v: CosmosVaultState = {
    chainId: 'qantara-local',
    address: vault,
    pubkey: multisig,
    accountNumber,
    sequence: over.sequence ?? sequence,
    fee,
    timeoutHeight: BigInt(await renter.client.getHeight()) + 10n,
  }
  const r: CosmosRelease = {
    orderId: order.id,
    memo: encodeReleaseMemo(order.id),
    denom: USDC,
    payments: [
      { to: provider, amount: s.toProvider },
      { to: feeRecipient, amount: s.fee },
      { to: order.renter, amount: s.toRenter },
    ],
  }
  const doc = hex(sha256(serializeSignDoc(releaseSignDoc(r, v))))
  return Buffer.from(
    JSON.stringify({
      v: 1,
      accountNumber,
      sequence: v.sequence,
      timeoutHeight: v.timeoutHeight.toString(),
      fee,
      doc,
      ...over,
    }),
  ).toString('base64')
}

/** Submits as the relayer does: a retryable refusal (a watcher not yet caught up) is tried again. */
async function submit(i: number, order: OrderTerms, settlement: Settlement, rt = runtimes[i]!) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await rt.submitSettlement(
        order,
        settlement,
        await attestations(order, settlement, [i, (i + 1) % 3]),
      )
    } catch (err) {
      if (!isQantaraError(err) || !err.retryable || attempt > 50) throw err
      await new Promise((ok) => setTimeout(ok, 200))
    }
  }
}

/** The vault's releases of an order on chain, read by a fresh watcher from the start. */
async function releasesOf(orderId: string) {
  const store = new SqliteStore(`${tmp.dir}/audit-${orderId.slice(2, 10)}-${Date.now()}.db`)
  const w = runtime(0, store).watcher
  const head = await renter.client.getHeight()
  const events: ChainEvent[] = []
  for (
    let from: Awaited<ReturnType<typeof w.poll>>['checkpoint'] | undefined;
    !from || from.height < BigInt(head);
  ) {
    const r = await w.poll(from)
    events.push(...r.events)
    from = r.checkpoint
  }
  return events.filter((e): e is VaultReleased => e.kind === 'VaultReleased' && e.orderId === orderId)
}

const contractBed: VaultRuntimeBed = {
  ids,
  addresses: () => keys.map((k) => k.address),
  runtimes: () => runtimes,
  stores: () => stores,
  runtime: (i, store) => runtime(i, store),
  down,
  provider,
  feeRecipient,
  settledOrder,
  balance: (owner) => balance(owner),
  vaultBalance: () => balance(vault),
  readAll: allRead,
  releasesOf,
  releaseRequest: (order, s) => releaseRequest(order, s),
  // The sequence the release took and the vault's sequence now.
  requestsAfterRelease: async (order, s) => {
    const { sequence } = await renter.client.getSequence(vault)
    return [
      await releaseRequest(order, s, { sequence: sequence - 1 }),
      await releaseRequest(order, s, { sequence }),
    ]
  },
  notARelease: { request: Buffer.from('not a request').toString('base64'), why: 'not a release request' },
  // The crashed process's own store: its watcher's checkpoint is what a co-signing check reads.
  crashStore: () => stores[0]!,
  vaultWrites: async () => (await renter.client.getSequence(vault)).sequence,
  storedTxHash: (payload) => (payload as { hash: string }).hash,
}

describe('Cosmos runtime on simd: the vault runtime contract', () => {
  vaultRuntimeContract(contractBed)
})

describe('Cosmos runtime on simd: attestations, co-signed releases on one sequence', () => {
  it("gives the statement a receipt carries: each member's attestation checks against its sha256 and the member's public key with a plain secp256k1 verifier", async () => {
    const { order, settlement } = await settledOrder()
    const statement = runtimes[0]!.settlementStatement(settlement) as {
      scheme: string
      message: string
      publicKeys: Record<string, string>
    }
    expect(statement.scheme).toBe('secp256k1-sha256')
    const digest = sha256(new TextEncoder().encode(statement.message))
    const sigs = await attestations(order, settlement, [0, 1, 2])
    sigs.forEach((sig, i) => {
      const key = Buffer.from(statement.publicKeys[ids[i]!]!, 'base64')
      expect(secp256k1.verify(Buffer.from(sig.signature, 'hex'), digest, key)).toBe(true)
      expect(
        secp256k1.verify(
          Buffer.from(sig.signature, 'hex'),
          sha256(new TextEncoder().encode(`${statement.message}0`)),
          key,
        ),
      ).toBe(false)
    })
  })

  it("pays a release's fee from the vault's fee reserve, not from the order", async () => {
    const { order, settlement } = await settledOrder()
    const before = [await balance(vault), await balance(vault, 'stake')]
    expect((await submit(0, order, settlement)).status).toBe('submitted')
    const fee = BigInt(releaseFee({ gasPrice: GAS_PRICE, gasLimit: 400_000 }).amount[0]!.amount)
    expect([before[0]! - (await balance(vault)), before[1]! - (await balance(vault, 'stake'))]).toEqual([
      order.amount,
      fee,
    ])
  })

  it("two releases racing for the vault's sequence both land exactly once, with a third submitter of one of them", async () => {
    const [x, y] = [await settledOrder(2_000_000n), await settledOrder(3_000_000n)]
    const before = [await balance(provider), await balance(vault)]
    const { sequence } = await renter.client.getSequence(vault)
    const logged = logLines.length
    const outcomes = await Promise.all([
      submit(0, x.order, x.settlement),
      submit(1, y.order, y.settlement),
      submit(2, x.order, x.settlement),
    ])
    const landed = outcomes.flatMap((o) => (o.status === 'submitted' ? [o.txHash] : []))
    // Two transactions landed; x's second submitter found it released, or had built the very same transaction (the
    // same two signers sign identical bytes at one sequence), and reports its hash.
    expect(new Set(landed).size).toBe(2)
    expect(outcomes[1].status).toBe('submitted')
    const [first, third] = [outcomes[0], outcomes[2]]
    if (first.status === 'submitted' && third.status === 'submitted') expect(third.txHash).toBe(first.txHash)
    expect((await balance(provider)) - before[0]!).toBe(x.settlement.toProvider + y.settlement.toProvider)
    expect(before[1]! - (await balance(vault))).toBe(5_000_000n)
    expect((await renter.client.getSequence(vault)).sequence).toBe(sequence + 2)
    // They did race: a release built at a sequence another one took was rebuilt.
    expect(
      logLines.slice(logged).filter((l) => l.includes('did not land at its sequence')).length,
    ).toBeGreaterThanOrEqual(1)
    expect(await releasesOf(x.order.id)).toHaveLength(1)
    expect(await releasesOf(y.order.id)).toHaveLength(1)
  })

  it("co-signs only a release at the vault's current sequence, for this relayer's fee and a timeout height in range", async () => {
    const { order, settlement } = await settledOrder()
    const peer = runtimes[1]!
    const { sequence } = await renter.client.getSequence(vault)
    const request = (over: Parameters<typeof releaseRequest>[2]) => releaseRequest(order, settlement, over)
    const honest = await request({})
    expect(
      await codeOf(peer.cosignRelease(order, settlement, await request({ sequence: sequence + 1 }))),
    ).toBe(`COSIGN_REFUSED:sequence ${sequence + 1} is not the vault's current ${sequence}`)
    expect(
      await codeOf(
        peer.cosignRelease(order, settlement, await request({ fee: { amount: [], gas: '400000' } })),
      ),
    ).toMatch(/^COSIGN_REFUSED:its fee is not this relayer's/)
    expect(
      await codeOf(
        peer.cosignRelease(
          order,
          settlement,
          await request({ timeoutHeight: (BigInt(await renter.client.getHeight()) + 10_000n).toString() }),
        ),
      ),
    ).toBe('COSIGN_REFUSED:its timeout height is out of range')
    expect((await peer.cosignRelease(order, settlement, honest)).signer).toBe(keys[1]!.address)
  })

  it('rebuilds a stored release that outlived its timeout height unsent, at the same sequence, and it lands once', async () => {
    const { order, settlement } = await settledOrder()
    const short = { timeoutBlocks: 5 }
    const { sequence } = await renter.client.getSequence(vault)
    expect(
      await codeOf(
        runtime(0, dyingStore(stores[0]!), short).submitSettlement(
          order,
          settlement,
          await attestations(order, settlement, [0, 1]),
        ),
      ),
    ).toBe('Error: killed')
    const stored = (await stores[0]!.getSubmission(CHAIN, `release:${order.id}`))!.payload as {
      hash: string
      timeoutHeight: string
    }
    while (BigInt(await renter.client.getHeight()) <= BigInt(stored.timeoutHeight))
      await new Promise((ok) => setTimeout(ok, 100))
    const outcome = await runtime(0, stores[0]!, short).submitSettlement(
      order,
      settlement,
      await attestations(order, settlement, [0, 1]),
    )
    expect(outcome.status).toBe('submitted')
    expect(outcome.status === 'submitted' && outcome.txHash).not.toBe(stored.hash)
    expect(await renter.client.getTx(stored.hash)).toBeNull()
    expect((await renter.client.getSequence(vault)).sequence).toBe(sequence + 1)
    expect(await releasesOf(order.id)).toHaveLength(1)
  })

  it('stops, without a second try, at a release that fails on chain: the vault short of funds', async () => {
    const { order, settlement } = await settledOrder()
    // Every member agrees on a split the vault cannot pay: CheckTx passes it, the chain runs it and refuses the sends.
    const short = { ...settlement, toProvider: settlement.toProvider + 10n ** 15n }
    agreed.set(order.id, { order, settlement: short })
    const [held, { sequence }] = [await balance(vault), await renter.client.getSequence(vault)]
    const err = await runtimes[0]!
      .submitSettlement(order, short, await attestations(order, short, [0, 1]))
      .catch((e: unknown) => e)
    expect(isQantaraError(err, 'SUBMIT_REVERTED') && [err.retryable, err.context.revert]).toEqual([
      false,
      'code 5',
    ])
    expect((await stores[0]!.getSubmission(CHAIN, `release:${order.id}`))!.state).toBe('failed')
    expect(await balance(vault)).toBe(held)
    expect((await renter.client.getSequence(vault)).sequence).toBe(sequence + 1)
    // The failed transaction took its sequence, as the index shows: the next release is built after it.
    const next = await settledOrder()
    expect((await submit(0, next.order, next.settlement)).status).toBe('submitted')
  })

  it("keeps the fee reserve's top-ups out of orders and refunds", async () => {
    const hash = await send([transfer(vault, 1_000n, 'stake')], FEE_RESERVE_MEMO)
    await allRead(hash)
    expect(
      (await stores[0]!.listEvents({ chain: CHAIN, limit: 10_000 })).filter((e) => e.event.txHash === hash),
    ).toEqual([])
  })

  it("releases orders ahead of refunds waiting for the vault, and a refund in the fee's denom pays its own release fee", async () => {
    /** A deposit without a memo, read by the watchers, and its refund order: everything back to its sender. */
    const stray = async (amount: bigint, denom = USDC) => {
      const hash = await send([transfer(vault, amount, denom)], '')
      await allRead(hash)
      const ignored = (await stores[0]!.listEvents({ chain: CHAIN, limit: 100_000 }))
        .map((e) => e.event)
        .find(
          (e): e is Extract<ChainEvent, { kind: 'VaultDepositIgnored' }> =>
            e.kind === 'VaultDepositIgnored' && e.txHash === hash,
        )!
      const order = refundOrder(ignored, 1_800_000_000n, 60)!
      const settlement: Settlement = {
        orderId: order.id,
        toProvider: 0n,
        toRenter: amount,
        fee: 0n,
        feeRecipient: '',
        upSlots: 0,
        totalSlots: 1,
        heartbeatRoot: `0x${'00'.repeat(32)}`,
      }
      agreed.set(order.id, { order, settlement })
      return { order, settlement }
    }
    const [first, second] = [await stray(1_000n), await stray(2_000n)]
    const real = await settledOrder(4_000_000n)
    // A refund is under way, a second one waits; the order, submitted after both, goes before the waiting refund.
    const outcomes = await Promise.all([
      submit(0, first.order, first.settlement),
      submit(0, second.order, second.settlement),
      submit(0, real.order, real.settlement),
    ])
    expect(outcomes.map((o) => o.status)).toEqual(['submitted', 'submitted', 'submitted'])
    const sequenceOf = async (id: string) =>
      ((await stores[0]!.getSubmission(CHAIN, `release:${id}`))!.payload as { sequence: number }).sequence
    expect(await sequenceOf(real.order.id)).toBeLessThan(await sequenceOf(second.order.id))

    // 100,000 stake sent without the fee-reserve memo: the refund pays its 400 stake fee out of itself, not out of the reserve.
    const releaseFeeStake = BigInt(releaseFee({ gasPrice: GAS_PRICE, gasLimit: 400_000 }).amount[0]!.amount)
    const inStake = await stray(100_000n, 'stake')
    const [renterBefore, vaultBefore] = [
      await balance(renter.address, 'stake'),
      await balance(vault, 'stake'),
    ]
    expect((await submit(0, inStake.order, inStake.settlement)).status).toBe('submitted')
    expect([
      (await balance(renter.address, 'stake')) - renterBefore,
      vaultBefore - (await balance(vault, 'stake')),
    ]).toEqual([100_000n - releaseFeeStake, 100_000n])
    const [released] = await releasesOf(inStake.order.id)
    expect(released!.payments).toEqual([{ owner: renter.address, amount: 100_000n - releaseFeeStake }])
  })
})
