import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DirectSecp256k1Wallet } from '@cosmjs/proto-signing'
import { fromBech32, toBech32 } from '@cosmjs/encoding'
import { TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx.js'
import {
  QueryClient,
  SigningStargateClient,
  setupStakingExtension,
  type MsgSendEncodeObject,
} from '@cosmjs/stargate'
import { cometClient } from '../adapters/cosmos/rpc.js'
import { startSimd, type Simd } from '../devkit/chains/simd.js'
import { CosmosVaultWatcher } from '../adapters/cosmos/watcher.js'
import type { ChainEvent, Checkpoint } from '../src/chains.js'
import { silentLogger } from '../src/log.js'
import { encodeOrderMemo, vaultOrderId, type VaultOrderMemo } from '../src/vault/orderMemo.js'
import { refundOrder } from '../src/vault/refund.js'
import { cliJson } from './support/cli.js'

// An IBC voucher denom, as a renter holding USDC from another chain would pay in.
const USDC = 'ibc/498A0751C798A0D9A389AA3691123DADA57DAA4FE165D5C75894505B876BA6E4'
const CHAIN = 'cosmos:qantara-local'
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n))
/** When the test orders start: far ahead of simd's blocks, which are dated now, since an order that ended by its deposit's block opens none. */
const FUTURE = 4_000_000_000n
let simd: Simd
let renter: { client: SigningStargateClient; address: string }
const vault = toBech32('cosmos', random(20))
const other = toBech32('cosmos', random(20))
const provider = toBech32('cosmos', random(20))

beforeAll(async () => {
  const wallet = await DirectSecp256k1Wallet.fromKey(random(32), 'cosmos')
  const [account] = await wallet.getAccounts()
  // The memo limit raised so that a 600-byte memo reaches the chain and the watcher has to refuse it itself.
  simd = await startSimd({
    accounts: [{ address: account!.address, coins: `100000000000stake,100000000000${USDC}` }],
    maxMemoCharacters: 1_024,
  })
  renter = {
    client: await SigningStargateClient.connectWithSigner(simd.rpcUrl, wallet, {
      broadcastPollIntervalMs: 200,
    }),
    address: account!.address,
  }
}, 1_800_000)
afterAll(async () => {
  renter?.client.disconnect()
  await simd?.stop()
})

const terms = (amount: bigint, salt = random(16)): VaultOrderMemo => ({
  salt,
  providerId: `0x${'cd'.repeat(32)}`,
  start: FUTURE,
  slotLength: 60,
  slots: 10,
  gpu: REFERENCE_ORDER_GPU,
  amount,
  payout: fromBech32(provider).data,
})
const send = (to: string, amount: bigint, denom = USDC): MsgSendEncodeObject => ({
  typeUrl: '/cosmos.bank.v1beta1.MsgSend',
  value: { fromAddress: renter.address, toAddress: to, amount: [{ denom, amount: amount.toString() }] },
})
async function deposit(msgs: MsgSendEncodeObject[], memo: string): Promise<string> {
  const res = await renter.client.signAndBroadcast(renter.address, msgs, { amount: [], gas: '400000' }, memo)
  expect(res.code).toBe(0)
  return res.transactionHash
}

function watcher(
  known: Set<string>,
  maxBlocksPerPoll?: number,
  extra: {
    perPage?: number
    maxPages?: number
    minRefund?: ReadonlyMap<string, bigint>
    minOrderAmount?: ReadonlyMap<string, bigint>
  } = {},
) {
  return new CosmosVaultWatcher({
    chain: CHAIN,
    comet: () => cometClient({ urls: [simd.rpcUrl], timeoutMs: 5_000 }),
    vault,
    prefix: 'cosmos',
    denoms: [USDC],
    extraDepth: 1,
    startHeight: 1,
    knownOrder: (id) => Promise.resolve(known.has(id)),
    logger: silentLogger(),
    ...(maxBlocksPerPoll ? { maxBlocksPerPoll } : {}),
    ...extra,
  })
}

/** Polls until the watcher has read past `height`, feeding opened orders back as the store would. */
async function drainPast(w: CosmosVaultWatcher, known: Set<string>, height: number, from?: Checkpoint) {
  const events: ChainEvent[] = []
  let checkpoint = from
  for (let i = 0; i < 500; i++) {
    const r = await w.poll(checkpoint)
    events.push(...r.events)
    for (const e of r.events) if (e.kind === 'OrderOpened') known.add(e.order.id)
    checkpoint = r.checkpoint
    if (r.checkpoint.height > BigInt(height)) return { events, checkpoint }
    await new Promise((ok) => setTimeout(ok, 100))
  }
  throw new Error('the watcher did not catch up')
}
const heightOf = async (hash: string) => (await renter.client.getTx(hash))!.height

describe('Cosmos vault watcher on simd', () => {
  it('opens an order from a MsgSend to the vault with its memo, at the amount the transfer events show', async () => {
    const memo = terms(12_500_000n)
    const hash = await deposit([send(vault, 12_500_000n)], encodeOrderMemo(memo))
    const known = new Set<string>()
    const { events } = await drainPast(watcher(known), known, await heightOf(hash))
    expect(events).toEqual([
      {
        kind: 'OrderOpened',
        chain: CHAIN,
        key: `OrderOpened:${hash}`,
        block: { height: BigInt(await heightOf(hash)), hash: '' },
        txHash: hash,
        order: {
          id: vaultOrderId(CHAIN, renter.address, memo.salt),
          chain: CHAIN,
          renter: renter.address,
          token: USDC,
          amount: 12_500_000n,
          providerId: memo.providerId,
          payout: provider,
          start: memo.start,
          slotLength: 60,
          slots: 10,
          gpu: memo.gpu,
        },
      },
    ])
  })

  it('ignores, each with its reason, every deposit that does not make an order', async () => {
    const known = new Set<string>()
    const start = await drainPast(watcher(known), known, (await renter.client.getHeight()) - 1)
    const repeated = terms(1_000_000n)
    const sent = {
      wrongDenom: await deposit([send(vault, 1_000_000n, 'stake')], encodeOrderMemo(terms(1_000_000n))),
      claimsMore: await deposit([send(vault, 1_000_000n)], encodeOrderMemo(terms(2_000_000n))),
      noMemo: await deposit([send(vault, 1_000_000n)], ''),
      mostlyElsewhere: await deposit(
        [send(other, 1_000_000n), send(vault, 1n)],
        encodeOrderMemo(terms(1_000_000n)),
      ),
      first: await deposit([send(vault, 1_000_000n)], encodeOrderMemo(repeated)),
      duplicate: await deposit([send(vault, 1_000_000n)], encodeOrderMemo(repeated)),
      oversized: await deposit([send(vault, 1_000_000n)], `qv1:${'A'.repeat(596)}`),
      elsewhereOnly: await deposit([send(other, 1_000_000n)], encodeOrderMemo(terms(1_000_000n))),
    }
    const { events } = await drainPast(
      watcher(known),
      known,
      await heightOf(sent.elsewhereOnly),
      start.checkpoint,
    )
    const outcome = (hash: string) => {
      const e = events.find((x) => x.txHash === hash)
      return e?.kind === 'VaultDepositIgnored' ? e.reason : e?.kind
    }
    expect(Object.fromEntries(Object.entries(sent).map(([what, hash]) => [what, outcome(hash)]))).toEqual({
      wrongDenom: 'WRONG_DENOM',
      claimsMore: 'AMOUNT_MISMATCH',
      noMemo: 'NO_MEMO',
      mostlyElsewhere: 'AMOUNT_MISMATCH',
      first: 'OrderOpened',
      duplicate: 'DUPLICATE_ORDER',
      oversized: 'MEMO_TOO_LARGE',
      // Never touched the vault: not the vault's business at all.
      elsewhereOnly: undefined,
    })
    expect(events.find((e) => e.txHash === sent.noMemo)).toMatchObject({
      sender: renter.address,
      token: USDC,
      amount: 1_000_000n,
    })
  })

  it('resumes from its checkpoint after a restart, reading each deposit once, a window of heights at a time', async () => {
    const known = new Set<string>()
    const first = await drainPast(watcher(known), known, (await renter.client.getHeight()) - 1)
    const sent: string[] = []
    for (let i = 0; i < 4; i++)
      sent.push(await deposit([send(vault, 1_000n + BigInt(i))], encodeOrderMemo(terms(1_000n + BigInt(i)))))
    // A fresh watcher (the process restarted) with the stored checkpoint, two heights per poll.
    const resumed = await drainPast(watcher(known, 2), known, await heightOf(sent.at(-1)!), first.checkpoint)
    expect(resumed.events.map((e) => e.txHash)).toEqual(sent)
    const again = await watcher(known, 2).poll(resumed.checkpoint)
    expect(again.events).toEqual([])
  })

  it('opens the order `qantara order memo` names, from a deposit that carries its memo', async () => {
    const args = [
      'order',
      'memo',
      '--chain',
      CHAIN,
      '--renter',
      renter.address.toUpperCase(),
      '--provider',
      `0x${'cd'.repeat(32)}`,
      '--amount',
      '4200000',
      '--slots',
      '10',
      '--gpu',
      '1xcpu-reference',
      '--slot-length',
      '60',
      '--start',
      FUTURE.toString(),
      '--payout',
      provider,
    ]
    const printed = await cliJson<{ orderId: string; memo: string; renter: string }>(args, {
      timeoutMs: 30_000,
    })
    // An upper-case bech32 address is the same account: the id is made from the form the watcher reads.
    expect(printed.renter).toBe(renter.address)
    const hash = await deposit([send(vault, 4_200_000n)], printed.memo)
    const known = new Set<string>()
    const { events } = await drainPast(watcher(known), known, await heightOf(hash))
    expect(events.find((e) => e.txHash === hash)).toMatchObject({
      kind: 'OrderOpened',
      order: {
        id: printed.orderId,
        renter: renter.address,
        amount: 4_200_000n,
        payout: provider,
        slots: 10,
        slotLength: 60,
        gpu: REFERENCE_ORDER_GPU,
        start: FUTURE,
      },
    })
  })

  it('refunds a deposit only to an account that signed it: a module account that paid the vault is never refunded', async () => {
    const known = new Set<string>()
    const start = await drainPast(watcher(known), known, (await renter.client.getHeight()) - 1)
    const [validator] = (
      await QueryClient.withExtensions(
        await cometClient({ urls: [simd.rpcUrl], timeoutMs: 5_000 }),
        setupStakingExtension,
      ).staking.validators('BOND_STATUS_BONDED')
    ).validators
    const signed = async (messages: { typeUrl: string; value: unknown }[], memo = '') => {
      const res = await renter.client.signAndBroadcast(
        renter.address,
        messages,
        { amount: [], gas: '400000' },
        memo,
      )
      expect(res.code).toBe(0)
      return res.transactionHash
    }
    // The renter's staking rewards are paid to the vault: x/distribution's module account sends them, in a transaction the renter signed.
    await signed([
      {
        typeUrl: '/cosmos.staking.v1beta1.MsgDelegate',
        value: {
          delegatorAddress: renter.address,
          validatorAddress: validator!.operatorAddress,
          amount: { denom: 'stake', amount: '50000000000' },
        },
      },
      {
        typeUrl: '/cosmos.distribution.v1beta1.MsgSetWithdrawAddress',
        value: { delegatorAddress: renter.address, withdrawAddress: vault },
      },
    ])
    const stakeOf = async () => BigInt((await renter.client.getBalance(vault, 'stake')).amount)
    for (const h = await renter.client.getHeight(); (await renter.client.getHeight()) < h + 3;)
      await new Promise((ok) => setTimeout(ok, 100))
    const before = await stakeOf()
    const rewards = await signed([
      {
        typeUrl: '/cosmos.distribution.v1beta1.MsgWithdrawDelegatorReward',
        value: { delegatorAddress: renter.address, validatorAddress: validator!.operatorAddress },
      },
    ])
    const paid = (await stakeOf()) - before
    expect(paid).toBeGreaterThan(0n)
    const { events } = await drainPast(watcher(known), known, await heightOf(rewards), start.checkpoint)
    const ignored = events.find(
      (e): e is Extract<ChainEvent, { kind: 'VaultDepositIgnored' }> =>
        e.kind === 'VaultDepositIgnored' && e.txHash === rewards,
    )!
    // No sender: the module account that paid did not sign. The renter who did sign is not the payer either.
    expect(ignored).toEqual({
      kind: 'VaultDepositIgnored',
      chain: CHAIN,
      key: `VaultDepositIgnored:${rewards}`,
      block: { height: BigInt(await heightOf(rewards)), hash: '' },
      txHash: rewards,
      reason: 'NO_MEMO',
      token: 'stake',
      amount: paid,
    })
    expect(refundOrder(ignored, 1_800_000_000n, 60)).toBeUndefined()
  })

  it('reads a burst of deposits above what one poll reads, in blocks that alone hold more, each once and in order, across polls and restarts', async () => {
    const known = new Set<string>()
    const start = await drainPast(watcher(known), known, (await renter.client.getHeight()) - 1)
    // One poll reads 2 pages of 3: 6 transactions, where the default is 2,000. 50 deposits sent at once land a block or three.
    const paging = { perPage: 3, maxPages: 2 }
    const { accountNumber, sequence } = await renter.client.getSequence(renter.address)
    const chainId = await renter.client.getChainId()
    const signedTxs = []
    for (let i = 0; i < 50; i++) {
      const raw = await renter.client.sign(
        renter.address,
        [send(vault, 10_000n + BigInt(i))],
        { amount: [], gas: '200000' },
        encodeOrderMemo(terms(10_000n + BigInt(i))),
        { accountNumber, sequence: sequence + i, chainId },
      )
      signedTxs.push(TxRaw.encode(raw).finish())
    }
    const sent: string[] = []
    for (const tx of signedTxs) sent.push(await renter.client.broadcastTxSync(tx))
    for (let i = 0; i < 300 && !(await renter.client.getTx(sent.at(-1)!)); i++)
      await new Promise((ok) => setTimeout(ok, 100))
    const included = await Promise.all(sent.map(async (h) => (await renter.client.getTx(h))!))
    expect(included.every((t) => t.code === 0)).toBe(true)
    const perBlock = new Map<number, number>()
    for (const t of included) perBlock.set(t.height, (perBlock.get(t.height) ?? 0) + 1)
    expect(Math.max(...perBlock.values())).toBeGreaterThan(6)
    // A fresh watcher on every poll: all it knows is the stored checkpoint, as after a restart.
    const events: ChainEvent[] = []
    const checkpoints: Checkpoint[] = []
    const perPoll: number[] = []
    let checkpoint = start.checkpoint
    const last = Math.max(...perBlock.keys())
    for (let i = 0; i < 200 && checkpoint.height <= BigInt(last); i++) {
      const r = await watcher(known, undefined, paging).poll(checkpoint)
      events.push(...r.events)
      perPoll.push(r.events.length)
      for (const e of r.events) if (e.kind === 'OrderOpened') known.add(e.order.id)
      checkpoint = r.checkpoint
      checkpoints.push(checkpoint)
      if (r.events.length === 0) await new Promise((ok) => setTimeout(ok, 100))
    }
    expect(events.map((e) => e.kind === 'OrderOpened' && e.txHash)).toEqual(sent)
    expect(events.map((e) => e.kind === 'OrderOpened' && e.order.amount)).toEqual(
      sent.map((_, i) => 10_000n + BigInt(i)),
    )
    // Some polls stopped inside a block, and no poll read more than it may.
    expect(checkpoints.some((c) => c.hash.startsWith('page:'))).toBe(true)
    expect(Math.max(...perPoll)).toBeLessThanOrEqual(6)
  })

  it('leaves a stray deposit below the minimum refund in the vault: no sender, so no refund order; one at the minimum is refunded', async () => {
    const known = new Set<string>()
    const start = await drainPast(watcher(known), known, (await renter.client.getHeight()) - 1)
    const sent = {
      dust: await deposit([send(vault, 999n)], ''),
      enough: await deposit([send(vault, 1_000n)], ''),
      otherDenom: await deposit([send(vault, 5n, 'stake')], ''),
    }
    const minRefund = new Map([
      [USDC, 1_000n],
      ['*', 10n],
    ])
    const { events } = await drainPast(
      watcher(known, undefined, { minRefund }),
      known,
      await heightOf(sent.otherDenom),
      start.checkpoint,
    )
    const ignored = (hash: string) =>
      events.find(
        (e): e is Extract<ChainEvent, { kind: 'VaultDepositIgnored' }> =>
          e.kind === 'VaultDepositIgnored' && e.txHash === hash,
      )!
    expect(Object.values(sent).map((h) => [ignored(h).reason, ignored(h).amount, ignored(h).sender])).toEqual(
      [
        ['NO_MEMO', 999n, undefined],
        ['NO_MEMO', 1_000n, renter.address],
        ['NO_MEMO', 5n, undefined],
      ],
    )
    expect(Object.values(sent).map((h) => refundOrder(ignored(h), 1_800_000_000n, 60)?.amount)).toEqual([
      undefined,
      1_000n,
      undefined,
    ])
  })

  it('opens no order from a deposit whose order ended by its block, nor from one below the minimum order, and refunds them as stray deposits (security review 2026-12, M1)', async () => {
    const known = new Set<string>()
    const start = await drainPast(watcher(known), known, (await renter.client.getHeight()) - 1)
    const now = BigInt(Math.floor(Date.now() / 1000))
    const order = (amount: bigint, over: Partial<VaultOrderMemo>) =>
      deposit([send(vault, amount)], encodeOrderMemo({ ...terms(amount), ...over }))
    const sent = {
      // The attack: one unit, one slot, from 1970. It would settle at once as a no-show, a release fee from the reserve.
      dust: await order(1n, { start: 0n, slotLength: 1, slots: 1 }),
      endedAnHourAgo: await order(5_000_000n, { start: now - 4_200n, slotLength: 60, slots: 10 }),
      belowMinimum: await order(999_999n, { start: now + 3_600n }),
      atMinimum: await order(1_000_000n, { start: now + 3_600n }),
      startedAndRunning: await order(2_000_000n, { start: now - 600n, slotLength: 60, slots: 30 }),
    }
    const limits = { minOrderAmount: new Map([['*', 1_000_000n]]), minRefund: new Map([[USDC, 1_000n]]) }
    const { events } = await drainPast(
      watcher(known, undefined, limits),
      known,
      await heightOf(sent.startedAndRunning),
      start.checkpoint,
    )
    const of = (hash: string) => events.find((e) => e.txHash === hash)!
    expect(
      Object.fromEntries(
        Object.entries(sent).map(([what, hash]) => {
          const e = of(hash)
          return [
            what,
            e.kind === 'VaultDepositIgnored'
              ? [e.reason, e.amount, e.sender]
              : [e.kind, e.kind === 'OrderOpened' && e.order.amount],
          ]
        }),
      ),
    ).toEqual({
      // Below minRefund too: no sender, so no refund either; the unit stays in the vault and costs the reserve nothing.
      dust: ['ORDER_ALREADY_ENDED', 1n, undefined],
      endedAnHourAgo: ['ORDER_ALREADY_ENDED', 5_000_000n, renter.address],
      belowMinimum: ['BELOW_MIN_ORDER', 999_999n, renter.address],
      atMinimum: ['OrderOpened', 1_000_000n],
      startedAndRunning: ['OrderOpened', 2_000_000n],
    })
    // Refunds, not orders: they queue behind real orders' releases.
    const refunds = Object.values(sent).map((hash) => {
      const e = of(hash)
      return e.kind === 'VaultDepositIgnored' ? refundOrder(e, now, 60) : undefined
    })
    expect(refunds.map((r) => r && [r.renter, r.amount, r.providerId])).toEqual([
      undefined,
      [renter.address, 5_000_000n, `0x${'ff'.repeat(32)}`],
      [renter.address, 999_999n, `0x${'ff'.repeat(32)}`],
      undefined,
      undefined,
    ])
  })
})
