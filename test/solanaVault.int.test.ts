import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPairSigner, getBase58Encoder, type Address } from '@solana/kit'
import { solanaRpc } from '../adapters/solana/rpc.js'
import { SolanaVaultWatcher } from '../adapters/solana/watcher.js'
import type { ChainEvent, Checkpoint } from '../src/chains.js'
import { silentLogger } from '../src/log.js'
import { encodeOrderMemo, vaultOrderId, type VaultOrderMemo } from '../src/vault/orderMemo.js'
import { refundOrder } from '../src/vault/refund.js'
import { startSolanaVault, type SolanaVaultBed } from '../devkit/chains/solanaVault.js'

const CHAIN = 'solana:litesvm'
let bed: SolanaVaultBed
let provider: Address

beforeAll(async () => {
  const relayers = await Promise.all([1, 2, 3].map(() => generateKeyPairSigner()))
  bed = await startSolanaVault(
    relayers.map((r) => r.address),
    2,
  )
  provider = (await generateKeyPairSigner()).address
})
afterAll(() => bed?.stop())

const terms = (amount: bigint, salt = crypto.getRandomValues(new Uint8Array(16))): VaultOrderMemo => ({
  salt,
  providerId: `0x${'cd'.repeat(32)}`,
  start: 1_800_000_000n,
  slotLength: 60,
  slots: 10,
  gpu: REFERENCE_ORDER_GPU,
  amount,
  payout: Uint8Array.from(getBase58Encoder().encode(provider)),
})

function watcher(
  known = new Set<string>(),
  pageSize?: number,
  limits: {
    maxPagesPerPoll?: number
    maxTransactionsPerPoll?: number
    minOrderAmount?: bigint
    minRefund?: bigint
  } = {},
) {
  return new SolanaVaultWatcher({
    chain: CHAIN,
    rpc: solanaRpc({ urls: [bed.rpc.url], timeoutMs: 5_000 }),
    vault: bed.vault,
    mint: bed.mint,
    startSlot: 0n,
    knownOrder: (id) => Promise.resolve(known.has(id)),
    logger: silentLogger(),
    ...(pageSize ? { pageSize } : {}),
    ...limits,
  })
}

/** Polls until caught up, as the watch loop does, feeding opened orders back as the store would. */
async function drain(w: SolanaVaultWatcher, known: Set<string>, from?: Checkpoint) {
  const events: ChainEvent[] = []
  let checkpoint = from
  for (;;) {
    const r = await w.poll(checkpoint)
    events.push(...r.events)
    for (const e of r.events) if (e.kind === 'OrderOpened') known.add(e.order.id)
    if (checkpoint && r.checkpoint.hash === checkpoint.hash) return { events, checkpoint: r.checkpoint }
    checkpoint = r.checkpoint
  }
}

describe('Solana vault watcher on litesvm, through the test RPC server over it', () => {
  it('opens an order from a transferChecked into the vault and its memo, at the amount the vault gained', async () => {
    const renter = await bed.renter(50_000_000n)
    const memo = terms(12_500_000n)
    const signature = await bed.send([
      bed.transferChecked(renter, bed.vault, 12_500_000n),
      bed.memo(encodeOrderMemo(memo)),
    ])
    const { events } = await drain(watcher(), new Set())
    expect(events).toEqual([
      {
        kind: 'OrderOpened',
        chain: CHAIN,
        key: `OrderOpened:${signature}`,
        block: { height: expect.any(BigInt) as bigint, hash: signature },
        txHash: signature,
        order: {
          id: vaultOrderId(CHAIN, renter.wallet.address, memo.salt),
          chain: CHAIN,
          renter: renter.wallet.address,
          token: bed.mint,
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
    const { checkpoint } = await drain(watcher(known), known)
    const renter = await bed.renter(100_000_000n)
    const elsewhere = await bed.renter(0n)
    const repeated = terms(1_000_000n)
    const sent = {
      memoWithoutTransfer: await bed.send([
        bed.memo(encodeOrderMemo(terms(1_000_000n))),
        bed.lamportsTo(bed.vault),
      ]),
      transferWithoutMemo: await bed.send([bed.transferChecked(renter, bed.vault, 1_000_000n)]),
      claimsMore: await bed.send([
        bed.transferChecked(renter, bed.vault, 1_000_000n),
        bed.memo(encodeOrderMemo(terms(2_000_000n))),
      ]),
      toAnotherAccount: await bed.send([
        bed.transferChecked(renter, elsewhere.tokens, 1_000_000n),
        bed.memo(encodeOrderMemo(terms(1_000_000n))),
        bed.lamportsTo(bed.vault),
      ]),
      first: await bed.send([
        bed.transferChecked(renter, bed.vault, 1_000_000n),
        bed.memo(encodeOrderMemo(repeated)),
      ]),
      duplicate: await bed.send([
        bed.transferChecked(renter, bed.vault, 1_000_000n),
        bed.memo(encodeOrderMemo(repeated)),
      ]),
      oversized: await bed.send([
        bed.transferChecked(renter, bed.vault, 1_000_000n),
        bed.memo(`qv1:${'A'.repeat(596)}`),
      ]),
    }
    const { events } = await drain(watcher(known), known, checkpoint)
    const outcome = (signature: string) => {
      const e = events.find((x) => x.txHash === signature)
      return e?.kind === 'VaultDepositIgnored' ? e.reason : e?.kind
    }
    expect(
      Object.fromEntries(Object.entries(sent).map(([what, signature]) => [what, outcome(signature)])),
    ).toEqual({
      memoWithoutTransfer: 'NO_TRANSFER',
      transferWithoutMemo: 'NO_MEMO',
      claimsMore: 'AMOUNT_MISMATCH',
      toAnotherAccount: 'NO_TRANSFER',
      first: 'OrderOpened',
      duplicate: 'DUPLICATE_ORDER',
      oversized: 'MEMO_TOO_LARGE',
    })
    const ignored = events.find((e) => e.txHash === sent.transferWithoutMemo)
    expect(ignored).toMatchObject({ sender: renter.wallet.address, amount: 1_000_000n })
  })

  it('resumes from its checkpoint after a restart, paging back to it, and reads each deposit once', async () => {
    const known = new Set<string>()
    const first = await drain(watcher(known), known)
    const renter = await bed.renter(100_000_000n)
    const sent: string[] = []
    for (let i = 0; i < 7; i++)
      sent.push(
        await bed.send([
          bed.transferChecked(renter, bed.vault, 1_000n + BigInt(i)),
          bed.memo(encodeOrderMemo(terms(1_000n + BigInt(i)))),
        ]),
      )
    // A fresh watcher (the process restarted) with the stored checkpoint, reading pages of 3 signatures.
    const resumed = await drain(watcher(known, 3), known, first.checkpoint)
    expect(resumed.events.map((e) => e.txHash)).toEqual(sent)
    expect(resumed.events.map((e) => e.kind === 'OrderOpened' && e.order.amount)).toEqual(
      sent.map((_, i) => 1_000n + BigInt(i)),
    )
    expect((await drain(watcher(known, 3), known, resumed.checkpoint)).events).toEqual([])
  })

  it('reads a backlog far deeper than one poll pages, oldest first, each deposit once, while new ones keep arriving, paging it back only once', async () => {
    const known = new Set<string>()
    const start = await drain(watcher(known), known)
    const renter = await bed.renter(100_000_000n)
    const deposit = async (i: number) =>
      bed.send([
        bed.transferChecked(renter, bed.vault, 2_000n + BigInt(i)),
        bed.memo(encodeOrderMemo(terms(2_000n + BigInt(i)))),
      ])
    const sent: string[] = []
    for (let i = 0; i < 50; i++) sent.push(await deposit(i))
    // Pages of 5, 2 pages and 7 transactions a poll: 50 signatures are ten pages back, five polls of paging alone.
    const limits = { maxPagesPerPoll: 2, maxTransactionsPerPoll: 7 }
    const events: ChainEvent[] = []
    const hashes: string[] = []
    let checkpoint = start.checkpoint
    let calls = 0
    const counting = solanaRpc({ urls: [bed.rpc.url], timeoutMs: 5_000 })
    const rpc = new Proxy(counting, {
      get: (t, k): unknown =>
        k === 'getSignaturesForAddress'
          ? (...a: Parameters<typeof t.getSignaturesForAddress>) => (calls++, t.getSignaturesForAddress(...a))
          : Reflect.get(t, k),
    })
    for (let poll = 0; poll < 100; poll++) {
      // A fresh watcher on every poll: all it knows is the stored checkpoint, as after a restart.
      const w = new SolanaVaultWatcher({
        chain: CHAIN,
        rpc,
        vault: bed.vault,
        mint: bed.mint,
        startSlot: 0n,
        knownOrder: (id) => Promise.resolve(known.has(id)),
        logger: silentLogger(),
        pageSize: 5,
        ...limits,
      })
      const r = await w.poll(checkpoint)
      expect(r.events.length).toBeLessThanOrEqual(7)
      events.push(...r.events)
      for (const e of r.events) if (e.kind === 'OrderOpened') known.add(e.order.id)
      hashes.push(r.checkpoint.hash)
      // New deposits land while the backlog is being walked.
      if (poll === 3) for (let i = 50; i < 55; i++) sent.push(await deposit(i))
      if (r.checkpoint.hash === checkpoint.hash && poll > 3) break
      checkpoint = r.checkpoint
    }
    expect(events.map((e) => e.txHash)).toEqual(sent)
    expect(events.map((e) => e.kind === 'OrderOpened' && e.order.amount)).toEqual(
      sent.map((_, i) => 2_000n + BigInt(i)),
    )
    expect(hashes.some((h) => h.includes(' '))).toBe(true)
    // Walking back and reading up: about two pages per page of backlog, never the whole backlog again per poll.
    expect(calls).toBeLessThanOrEqual(2 * Math.ceil(55 / 5) + 12)
  })

  it('opens no order from a deposit whose order ended by its block, nor from one below the minimum order, and refunds them as stray deposits (security review 2026-12, M1)', async () => {
    const known = new Set<string>()
    const { checkpoint } = await drain(watcher(known), known)
    // Blocks dated now, as a cluster dates them (litesvm's clock starts at 0), until the test ends.
    const clock = bed.rpc.svm.getClock()
    const now = BigInt(Math.floor(Date.now() / 1000))
    bed.rpc.svm.setClock(Object.assign(clock, { unixTimestamp: now }))
    try {
      const renter = await bed.renter(100_000_000n)
      const deposit = (amount: bigint, over: Partial<VaultOrderMemo> = {}) =>
        bed.send([
          bed.transferChecked(renter, bed.vault, amount),
          bed.memo(encodeOrderMemo({ ...terms(amount), ...over })),
        ])
      const sent = {
        // The attack: one unit, one slot, from 1970. It would settle at once as a no-show, a release at the relayers' cost.
        dust: await deposit(1n, { start: 0n, slotLength: 1, slots: 1 }),
        endsAtItsBlock: await deposit(5_000_000n, { start: now - 600n, slotLength: 60, slots: 10 }),
        belowMinimum: await deposit(999_999n, { start: now + 300n }),
        atMinimum: await deposit(1_000_000n, { start: now + 300n }),
        startedAndRunning: await deposit(2_000_000n, { start: now - 600n, slotLength: 60, slots: 11 }),
      }
      const { events } = await drain(
        watcher(known, undefined, { minOrderAmount: 1_000_000n, minRefund: 1_000n }),
        known,
        checkpoint,
      )
      const of = (signature: string) => events.find((e) => e.txHash === signature)!
      expect(
        Object.fromEntries(
          Object.entries(sent).map(([what, signature]) => {
            const e = of(signature)
            return [
              what,
              e.kind === 'VaultDepositIgnored'
                ? [e.reason, e.amount, e.sender]
                : [e.kind, e.kind === 'OrderOpened' && e.order.amount],
            ]
          }),
        ),
      ).toEqual({
        // Below minRefund too: no sender, so no refund either; the unit stays in the vault and costs the relayers nothing.
        dust: ['ORDER_ALREADY_ENDED', 1n, undefined],
        endsAtItsBlock: ['ORDER_ALREADY_ENDED', 5_000_000n, renter.wallet.address],
        belowMinimum: ['BELOW_MIN_ORDER', 999_999n, renter.wallet.address],
        atMinimum: ['OrderOpened', 1_000_000n],
        startedAndRunning: ['OrderOpened', 2_000_000n],
      })
      const refunds = Object.values(sent).map((signature) => {
        const e = of(signature)
        return e.kind === 'VaultDepositIgnored' ? refundOrder(e, now, 3_600) : undefined
      })
      expect(refunds.map((r) => r && [r.renter, r.amount, r.providerId])).toEqual([
        undefined,
        [renter.wallet.address, 5_000_000n, `0x${'ff'.repeat(32)}`],
        [renter.wallet.address, 999_999n, `0x${'ff'.repeat(32)}`],
        undefined,
        undefined,
      ])
    } finally {
      bed.rpc.svm.setClock(Object.assign(bed.rpc.svm.getClock(), { unixTimestamp: 0n }))
    }
  })
})
