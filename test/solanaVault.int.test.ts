import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPairSigner, getBase58Encoder, type Address } from '@solana/kit'
import { solanaRpc } from '../adapters/solana/rpc.js'
import { SolanaVaultWatcher } from '../adapters/solana/watcher.js'
import type { ChainEvent, Checkpoint } from '../src/chains.js'
import { silentLogger } from '../src/log.js'
import { encodeOrderMemo, vaultOrderId, type VaultOrderMemo } from '../src/vault/orderMemo.js'
import { startSolanaVault, type SolanaVaultBed } from './support/solanaVault.js'

const CHAIN = 'solana:litesvm'
let bed: SolanaVaultBed
let provider: Address

beforeAll(async () => {
  const relayers = await Promise.all([1, 2, 3].map(() => generateKeyPairSigner()))
  bed = await startSolanaVault(relayers.map((r) => r.address), 2)
  provider = (await generateKeyPairSigner()).address
})
afterAll(() => bed?.stop())

const terms = (amount: bigint, salt = crypto.getRandomValues(new Uint8Array(16))): VaultOrderMemo => ({
  salt, providerId: `0x${'cd'.repeat(32)}`, start: 1_800_000_000n, slotLength: 60, slots: 10, amount, payout: Uint8Array.from(getBase58Encoder().encode(provider)),
})

function watcher(known = new Set<string>(), pageSize?: number) {
  return new SolanaVaultWatcher({
    chain: CHAIN, rpc: solanaRpc({ url: bed.rpc.url, timeoutMs: 5_000 }), vault: bed.vault, mint: bed.mint, startSlot: 0n,
    knownOrder: (id) => Promise.resolve(known.has(id)), logger: silentLogger(), ...(pageSize ? { pageSize } : {}),
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
    const signature = await bed.send([bed.transferChecked(renter, bed.vault, 12_500_000n), bed.memo(encodeOrderMemo(memo))])
    const { events } = await drain(watcher(), new Set())
    expect(events).toEqual([{
      kind: 'OrderOpened', chain: CHAIN, key: `OrderOpened:${signature}`, block: { height: expect.any(BigInt) as bigint, hash: signature }, txHash: signature,
      order: { id: vaultOrderId(CHAIN, renter.wallet.address, memo.salt), chain: CHAIN, renter: renter.wallet.address, token: bed.mint, amount: 12_500_000n, providerId: memo.providerId, payout: provider, start: memo.start, slotLength: 60, slots: 10 },
    }])
  })

  it('ignores, each with its reason, every deposit that does not make an order', async () => {
    const known = new Set<string>()
    const { checkpoint } = await drain(watcher(known), known)
    const renter = await bed.renter(100_000_000n)
    const elsewhere = await bed.renter(0n)
    const repeated = terms(1_000_000n)
    const sent = {
      memoWithoutTransfer: await bed.send([bed.memo(encodeOrderMemo(terms(1_000_000n))), bed.lamportsTo(bed.vault)]),
      transferWithoutMemo: await bed.send([bed.transferChecked(renter, bed.vault, 1_000_000n)]),
      claimsMore: await bed.send([bed.transferChecked(renter, bed.vault, 1_000_000n), bed.memo(encodeOrderMemo(terms(2_000_000n)))]),
      toAnotherAccount: await bed.send([bed.transferChecked(renter, elsewhere.tokens, 1_000_000n), bed.memo(encodeOrderMemo(terms(1_000_000n))), bed.lamportsTo(bed.vault)]),
      first: await bed.send([bed.transferChecked(renter, bed.vault, 1_000_000n), bed.memo(encodeOrderMemo(repeated))]),
      duplicate: await bed.send([bed.transferChecked(renter, bed.vault, 1_000_000n), bed.memo(encodeOrderMemo(repeated))]),
      oversized: await bed.send([bed.transferChecked(renter, bed.vault, 1_000_000n), bed.memo(`qv1:${'A'.repeat(596)}`)]),
    }
    const { events } = await drain(watcher(known), known, checkpoint)
    const outcome = (signature: string) => {
      const e = events.find((x) => x.txHash === signature)
      return e?.kind === 'VaultDepositIgnored' ? e.reason : e?.kind
    }
    expect(Object.fromEntries(Object.entries(sent).map(([what, signature]) => [what, outcome(signature)]))).toEqual({
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
    for (let i = 0; i < 7; i++) sent.push(await bed.send([bed.transferChecked(renter, bed.vault, 1_000n + BigInt(i)), bed.memo(encodeOrderMemo(terms(1_000n + BigInt(i))))]))
    // A fresh watcher (the process restarted) with the stored checkpoint, reading pages of 3 signatures.
    const resumed = await drain(watcher(known, 3), known, first.checkpoint)
    expect(resumed.events.map((e) => e.txHash)).toEqual(sent)
    expect(resumed.events.map((e) => e.kind === 'OrderOpened' && e.order.amount)).toEqual(sent.map((_, i) => 1_000n + BigInt(i)))
    expect((await drain(watcher(known, 3), known, resumed.checkpoint)).events).toEqual([])
  })
})
