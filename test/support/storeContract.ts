import { expect, it } from 'vitest'
import { REFERENCE_ORDER_GPU } from '../../devkit/gpu/referenceGpu.js'
import type { ChainEvent } from '../../src/chains.js'
import { merkleLeafHash } from '../../src/merkle.js'
import type { OrderTerms } from '../../src/order.js'
import { storePeerSource } from '../../src/peer/routes.js'
import type { OrderFilter, Store, StoredHeartbeat } from '../../src/store/store.js'

export const CHAIN = 'eip155:31337' as const

export function opened(i: number, amount = 1_000n): ChainEvent {
  return {
    kind: 'OrderOpened',
    chain: CHAIN,
    key: `0xtx${i}:0`,
    block: { height: BigInt(100 + i), hash: `0xb${i}` },
    txHash: `0xtx${i}`,
    order: terms(i, amount),
  }
}

export function terms(i: number, amount = 1_000n): OrderTerms {
  return {
    id: `0x${i.toString(16).padStart(64, '0')}`,
    chain: CHAIN,
    renter: '0xr',
    token: 'native',
    amount,
    providerId: `0x${'11'.repeat(32)}`,
    payout: '0xp',
    start: 1_700_000_000n,
    slotLength: 60,
    slots: 10,
    gpu: REFERENCE_ORDER_GPU,
  }
}

/**
 * What every store does, whatever keeps it: the SQLite file and PostgreSQL
 * run these same tests (`store.int.test.ts`, `postgresStore.int.test.ts`).
 * `open` gives a fresh, empty store each time.
 */
export function storeContract(open: () => Promise<Store>): void {
  const withStore = (name: string, body: (store: Store) => Promise<void>) =>
    it(name, async () => {
      const store = await open()
      try {
        await body(store)
      } finally {
        await store.close()
      }
    })

  withStore(
    'keeps the newest relayer set a chain reported, whatever order the events come in',
    async (store) => {
      expect(await store.getRelayerSet(CHAIN)).toBeUndefined()
      expect(await store.putRelayerSet(CHAIN, { version: 2n, members: ['0xB', '0xC'], threshold: 2 })).toBe(
        true,
      )
      expect(await store.putRelayerSet(CHAIN, { version: 1n, members: ['0xA'], threshold: 1 })).toBe(false)
      expect(await store.putRelayerSet(CHAIN, { version: 2n, members: ['0xD'], threshold: 1 })).toBe(false)
      expect(await store.getRelayerSet(CHAIN)).toEqual({ version: 2n, members: ['0xB', '0xC'], threshold: 2 })
      expect(await store.getRelayerSet('eip155:1')).toBeUndefined()
    },
  )

  withStore('keeps amounts beyond 2^53 exact', async (store) => {
    const huge = 2n ** 200n + 1n
    await store.commitEvents(CHAIN, [opened(1, huge)], { height: 101n, hash: '0xb1' })
    const [stored] = await store.listEvents({ chain: CHAIN })
    expect(stored!.event.kind === 'OrderOpened' && stored!.event.order.amount).toBe(huge)
  })

  withStore('moves the checkpoint with its events, and skips events it already holds', async (store) => {
    expect(await store.commitEvents(CHAIN, [opened(1), opened(2)], { height: 102n, hash: '0xb2' })).toBe(2)
    expect(await store.commitEvents(CHAIN, [opened(2), opened(3)], { height: 103n, hash: '0xb3' })).toBe(1)
    expect(await store.getCheckpoint(CHAIN)).toEqual({ height: 103n, hash: '0xb3' })
    const events = await store.listEvents({ chain: CHAIN })
    expect(events.map((e) => e.event.key)).toEqual(['0xtx1:0', '0xtx2:0', '0xtx3:0'])
    expect((await store.listEvents({ afterSeq: events[0]!.seq, limit: 1 })).map((e) => e.event.key)).toEqual([
      '0xtx2:0',
    ])
    expect(await store.listOrderEvents(CHAIN, terms(2).id)).toEqual([opened(2)])
  })

  withStore('writes nothing when one event of a batch is refused', async (store) => {
    await store.commitEvents(CHAIN, [opened(1)], { height: 101n, hash: '0xb1' })
    const foreign = { ...opened(3), chain: 'eip155:1' as const }
    await expect(
      store.commitEvents(CHAIN, [opened(2), foreign], { height: 103n, hash: '0xb3' }),
    ).rejects.toThrow(/belongs to eip155:1/)
    expect(await store.getCheckpoint(CHAIN)).toEqual({ height: 101n, hash: '0xb1' })
    expect(await store.listEvents({ chain: CHAIN })).toHaveLength(1)
  })

  withStore(
    "keeps a compute challenge's transcript for the challenge and commitment it answers, its verdict only rising, through re-signed heartbeats",
    async (store) => {
      const heartbeat = (challengeSig: string, commitment: string | undefined, timestamp: number) =>
        JSON.stringify({
          heartbeat: {
            challenge: { challenge: { compute: { seed: '0x', n: 4 } }, signature: challengeSig },
            timestamp,
            gpus: null,
            ...(commitment ? { commitment } : {}),
          },
        })
      const put = (slot: number, body: string) =>
        store
          .putHeartbeats([{ orderId: '0xo', slot, relayerId: 'r1', body, receivedAt: 1 }])
          .then(([kept]) => kept)
      const at = (
        slot: number,
        challengeKey: string,
        verdict: 'passed' | 'failed',
        transcript: string = verdict,
      ) => store.putTranscript({ orderId: '0xo', slot, relayerId: 'r1', challengeKey, transcript, verdict })
      const compute = async () => (await store.listHeartbeatKeys('0xo')).map((h) => h.compute)
      // Slot 1 committed; slot 2 answered its challenge with no commitment (declined, on the provider's signature); slot 3 unchallenged.
      await put(1, heartbeat('0xsig', '0xroot', 1))
      await put(2, heartbeat('0xsig2', undefined, 1))
      await put(3, '{"heartbeat":{}}')
      expect(await compute()).toEqual(['unanswered', 'declined', null])
      // Only for the challenge and commitment the kept heartbeat carries, never for a declined or unchallenged one.
      expect(await at(1, '0xsig:0xother', 'passed')).toBe(false)
      expect(await at(2, '0xsig2:0xroot', 'failed')).toBe(false)
      expect(await at(3, 'null', 'passed')).toBe(false)
      expect(await at(1, '0xsig:0xroot', 'passed')).toBe(true)
      expect(await at(1, '0xsig:0xroot', 'passed', 'another')).toBe(false)
      expect(await at(1, '0xsig:0xroot', 'failed')).toBe(true)
      expect(await at(1, '0xsig:0xroot', 'passed')).toBe(false)
      expect(await compute()).toEqual(['failed', 'declined', null])
      expect(await store.getTranscript('0xo', 1, 'r1')).toBe('failed')
      // Moved to the end of the order's rows, flagged with its verdict: a peer past the heartbeat pulls it again.
      const after = await store.listHeartbeatsAfter('0xo', 0, 10)
      expect(after.map((h) => [h.slot, h.compute ?? null, h.hasTranscript ?? false])).toEqual([
        [2, 'declined', false],
        [3, null, false],
        [1, 'failed', true],
      ])
      // The provider re-signs the same answer until its leaf hash is lower: the proof against it stays.
      const resigned = Array.from({ length: 64 }, (_, t) => heartbeat('0xsig', '0xroot', 2 + t)).find(
        (b) => merkleLeafHash(b) < merkleLeafHash(heartbeat('0xsig', '0xroot', 1)),
      )!
      expect(await put(1, resigned)).toBe(true)
      expect(await compute()).toEqual(['failed', 'declined', null])
      expect(await store.getTranscript('0xo', 1, 'r1')).toBe('failed')
      expect(await store.countHeartbeats('0xo')).toBe(3)
    },
  )

  withStore(
    "keeps a relayer's heartbeat answering the slot's compute challenge over its plain one, whichever leaf hash is lower",
    async (store) => {
      const plain = (timestamp: number) =>
        JSON.stringify({
          heartbeat: { challenge: { challenge: {}, signature: '0xp' }, timestamp, gpus: null },
        })
      const checked = JSON.stringify({
        heartbeat: {
          challenge: { challenge: { compute: { seed: '0x', n: 4 } }, signature: '0xc' },
          timestamp: 1,
          gpus: null,
          commitment: '0xroot',
        },
      })
      // A plain heartbeat with a lower leaf hash than the checked one, and one with a higher.
      const plains = Array.from({ length: 64 }, (_, t) => plain(t))
      const lower = plains.find((b) => merkleLeafHash(b) < merkleLeafHash(checked))!
      const higher = plains.find((b) => merkleLeafHash(b) > merkleLeafHash(checked))!
      const put = (body: string) =>
        store
          .putHeartbeats([{ orderId: '0xo', slot: 0, relayerId: 'r1', body, receivedAt: 1 }])
          .then(([kept]) => kept)
      expect([await put(higher), await put(checked), await put(lower)]).toEqual([true, true, false])
      expect((await store.listHeartbeats('0xo')).map((h) => h.body)).toEqual([checked])
    },
  )

  withStore(
    'replaces rows in batches while readers number them for the feed, and neither waits on the other for good',
    async (store) => {
      // 30 keys, each replaced every round (each brings a lower leaf hash), by two writers taking the keys in opposite
      // orders, while four readers keep numbering the replaced rows for the feed.
      const ROUNDS = 20
      const keys = Array.from({ length: 30 }, (_, k) => ({ orderId: `0xd${k % 3}`, slot: Math.floor(k / 3) }))
      const rounds = keys.map((_, k) =>
        Array.from({ length: ROUNDS }, (_, r) => JSON.stringify({ heartbeat: { k, r } })).sort((a, b) =>
          merkleLeafHash(a) > merkleLeafHash(b) ? -1 : 1,
        ),
      )
      const batch = (round: number, reverse: boolean) => {
        const all = keys.map((key, k) => ({
          ...key,
          relayerId: 'r1',
          body: rounds[k]![round]!,
          receivedAt: 1,
        }))
        return reverse ? all.reverse() : all
      }
      let writing = true
      const reader = async () => {
        while (writing) await store.listHeartbeatFeed(0, 5_000)
      }
      const readers = [reader(), reader(), reader(), reader()]
      for (let round = 0; round < ROUNDS; round++)
        await Promise.all([store.putHeartbeats(batch(round, false)), store.putHeartbeats(batch(round, true))])
      writing = false
      await Promise.all(readers)
      const kept = new Map(
        (await store.listHeartbeatFeed(0, 5_000)).map((h) => [`${h.orderId}:${h.slot}`, h.body]),
      )
      expect(keys.map((key, k) => kept.get(`${key.orderId}:${key.slot}`) === rounds[k]![ROUNDS - 1])).toEqual(
        keys.map(() => true),
      )
    },
  )

  withStore('keeps a batch of heartbeats as if written one after another, in one call', async (store) => {
    // Three plain heartbeats of one slot in rising leaf-hash order: the lowest is the one kept.
    const [low, mid, high] = Array.from({ length: 8 }, (_, t) =>
      JSON.stringify({
        heartbeat: { challenge: { challenge: {}, signature: '0xp' }, timestamp: t, gpus: null },
      }),
    ).sort((a, b) => (merkleLeafHash(a) < merkleLeafHash(b) ? -1 : 1)) as [string, string, string]
    const beat = (orderId: string, slot: number, body: string) => ({
      orderId,
      slot,
      relayerId: 'r1',
      body,
      receivedAt: 1,
    })
    await store.putHeartbeats([beat('0xa', 0, mid)])
    const [first] = await store.listHeartbeatFeed(0, 10)
    expect(
      await store.putHeartbeats([
        beat('0xa', 0, high), // loses to the stored one
        beat('0xa', 0, low), // replaces it
        beat('0xb', 0, high), // new
        beat('0xb', 0, mid), // replaces the one kept just before, in this same batch
        beat('0xb', 0, high), // loses to that
        beat('0xb', 1, low),
      ]),
    ).toEqual([false, true, true, true, false, true])
    expect((await store.listHeartbeats('0xa')).map((h) => h.body)).toEqual([low])
    expect((await store.listHeartbeats('0xb')).map((h) => [h.slot, h.body])).toEqual([
      [0, mid],
      [1, low],
    ])
    // A peer whose cursor is past the replaced heartbeat pulls its replacement.
    expect(
      (await store.listHeartbeatFeed(first!.seq, 10)).map((h) => `${h.orderId}:${h.slot}`).sort(),
    ).toEqual(['0xa:0', '0xb:0', '0xb:1'])
    expect(await store.putHeartbeats([])).toEqual([])
  })

  withStore(
    "gives cursors over an order's heartbeats, and over every order's, that miss none however many writers keep them at once",
    async (store) => {
      // Ten writers keep 600 heartbeats of three orders, a batch of one per order at a time, each writer taking the
      // orders in another order (so batches wait on each other's locks), while readers follow one order and the feed.
      let writing = true
      const follow = async (read: (cursor: number) => Promise<(StoredHeartbeat & { seq: number })[]>) => {
        const seen = new Set<string>()
        let cursor = 0
        for (;;) {
          // Whether the writers were done before this read: only then does an empty page mean the end.
          const done = !writing
          const page = await read(cursor)
          for (const h of page) seen.add(`${h.orderId}:${h.slot}:${h.relayerId}`)
          if (page.length) cursor = page.at(-1)!.seq
          else if (done) return seen
          else await new Promise((r) => setImmediate(r))
        }
      }
      const one = follow((cursor) => store.listHeartbeatsAfter('0xo0', cursor, 50))
      const all = follow((cursor) => store.listHeartbeatFeed(cursor, 50))
      await Promise.all(
        Array.from({ length: 10 }, async (_, w) => {
          for (let slot = 0; slot < 20; slot++)
            await store.putHeartbeats(
              [0, 1, 2].map((o) => ({
                orderId: `0xo${(o + w) % 3}`,
                slot,
                relayerId: `r${w}`,
                body: JSON.stringify({ heartbeat: { slot, w } }),
                receivedAt: 1,
              })),
            )
        }),
      )
      writing = false
      expect((await one).size).toBe(10 * 20)
      expect((await all).size).toBe(600)
      expect(await store.countHeartbeats('0xo1')).toBe(10 * 20)
    },
  )

  withStore('counts orders by state in one grouped query, for the gauges', async (store) => {
    for (let i = 1; i <= 5; i++) await store.insertOrder(terms(i), 1)
    for (const i of [1, 2]) await store.transitionOrder(terms(i).id, ['opened'], 'active', {}, 2)
    expect(await store.countOrdersByState()).toEqual({ opened: 3, active: 2 })
    expect((await store.listOrders(['active'])).map((o) => o.terms.id)).toEqual([terms(1).id, terms(2).id])
    expect((await store.listOrdersPage(terms(2).id, 2)).map((o) => o.terms.id)).toEqual([
      terms(3).id,
      terms(4).id,
    ])
  })

  orderListingContract(withStore)

  withStore(
    'moves an order only from the states it names, and lists a live order when it is due, a final one never',
    async (store) => {
      const id = terms(1).id
      expect(await store.insertOrder(terms(1), 1)).toBe(true)
      expect(await store.insertOrder(terms(1), 2)).toBe(false)
      // New: due at once.
      expect((await store.listDueOrders(0, 10)).map((o) => o.terms.id)).toEqual([id])
      await store.setOrderDues([{ id, state: 'opened', dueMs: 5_000 }])
      expect(await store.listDueOrders(4_999, 10)).toEqual([])
      expect((await store.listDueOrders(5_000, 10)).map((o) => o.terms.id)).toEqual([id])
      expect(await store.transitionOrder(id, ['active'], 'ended', {}, 3)).toBe(false)
      expect(await store.transitionOrder(id, ['opened'], 'active', {}, 3)).toBe(true)
      // A transition makes it due at once; a look timed for the state it left changes nothing.
      expect((await store.listDueOrders(0, 10)).map((o) => o.state)).toEqual(['active'])
      await store.setOrderDues([{ id, state: 'opened', dueMs: 9_000 }])
      expect(await store.listDueOrders(0, 10)).toHaveLength(1)
      const settlement = {
        orderId: id,
        toProvider: 2n ** 70n,
        toRenter: 0n,
        fee: 1n,
        feeRecipient: '0xf',
        upSlots: 10,
        totalSlots: 10,
        heartbeatRoot: `0x${'ee'.repeat(32)}` as const,
      }
      expect(
        await store.transitionOrder(id, ['active'], 'settled', { settlement, txHash: '0xt', btcSats: 3n }, 4),
      ).toBe(true)
      expect(await store.listDueOrders(Number.MAX_SAFE_INTEGER, 10)).toEqual([])
      await store.setOrderDues([{ id, state: 'settled', dueMs: 0 }])
      expect(await store.getOrder(id)).toMatchObject({
        state: 'settled',
        settlement,
        txHash: '0xt',
        btcSats: 3n,
        updatedAt: 4,
      })
      expect(await store.getOrder(terms(9).id)).toBeUndefined()
      // A restart makes every live order due at once, and no final one.
      await store.insertOrder(terms(2), 5)
      await store.setOrderDues([{ id: terms(2).id, state: 'opened', dueMs: 50_000 }])
      await store.makeLiveOrdersDue()
      expect((await store.listDueOrders(0, 10)).map((o) => o.terms.id)).toEqual([terms(2).id])
    },
  )

  withStore(
    'compacts a finished order once past its retention: bodies and transcripts go, what proves its settlement stays',
    async (store) => {
      const [done, live] = [terms(1), terms(2)]
      for (const t of [done, live]) {
        await store.insertOrder(t, 1)
        await store.putHeartbeats([
          {
            orderId: t.id,
            slot: 0,
            relayerId: 'r1',
            body: '{"heartbeat":{"slot":0}}',
            receivedAt: 1,
          },
        ])
      }
      const checked = JSON.stringify({
        heartbeat: {
          challenge: { challenge: { compute: { seed: '0x', n: 4 } }, signature: '0xc' },
          commitment: '0xr',
        },
      })
      await store.putHeartbeats([
        { orderId: done.id, slot: 1, relayerId: 'r1', body: checked, receivedAt: 1 },
      ])
      await store.putTranscript({
        orderId: done.id,
        slot: 1,
        relayerId: 'r1',
        challengeKey: '0xc:0xr',
        transcript: '{"rows":[]}',
        verdict: 'failed',
      })
      const keys = await store.listHeartbeatKeys(done.id)
      await store.transitionOrder(done.id, ['opened'], 'refunded', {}, 1_000)
      // Not yet past its retention; and a live order never is.
      expect(await store.compactFinished(1_000, 10, 5_000)).toBe(0)
      expect(await store.compactFinished(1_001, 10, 5_000)).toBe(1)
      expect(await store.compactFinished(1_001, 10, 6_000)).toBe(0)
      expect(await store.listHeartbeatKeys(done.id)).toEqual(keys)
      expect(await store.getTranscript(done.id, 1, 'r1')).toBeUndefined()
      expect((await store.listHeartbeats(done.id)).map((h) => h.body)).toEqual(['', ''])
      expect((await store.getOrder(done.id))?.compactedAt).toBeGreaterThan(0)
      expect((await store.getOrder(live.id))?.compactedAt).toBeUndefined()
      expect((await store.listHeartbeats(live.id)).map((h) => h.body)).toEqual(['{"heartbeat":{"slot":0}}'])
      // Peers are served the live order's heartbeat only; the cursor still moves past the compacted ones.
      const page = await storePeerSource(store, 'r1').feed(0)
      expect(page.heartbeats.map((h) => h.heartbeat)).toEqual([{ heartbeat: { slot: 0 } }])
      expect(page.cursor).toBe(Math.max(...(await store.listHeartbeatFeed(0, 10)).map((h) => h.seq)))
    },
  )

  withStore('records submissions and lists the pending ones of a signer by nonce', async (store) => {
    const base = {
      chain: CHAIN,
      signer: '0xs',
      payload: { raw: ['0xdead'], maxFee: 10n ** 30n },
      updatedAt: 1,
    }
    await store.putSubmission({ ...base, key: 'settle:b', nonce: 8, state: 'pending' })
    await store.putSubmission({ ...base, key: 'settle:a', nonce: 7, state: 'pending' })
    await store.putSubmission({ ...base, key: 'settle:c', nonce: 6, state: 'confirmed' })
    expect((await store.pendingSubmissions(CHAIN, '0xs')).map((s) => s.nonce)).toEqual([7, 8])
    await store.putSubmission({ ...base, key: 'settle:a', nonce: 7, state: 'confirmed' })
    expect((await store.getSubmission(CHAIN, 'settle:a'))?.state).toBe('confirmed')
    expect((await store.getSubmission(CHAIN, 'settle:a'))?.payload).toEqual(base.payload)
  })

  withStore(
    'keeps the newest provider record, one signature per relayer, and named cursors',
    async (store) => {
      expect(await store.putProvider('p', 2, 'two', 1)).toBe(true)
      expect(await store.putProvider('p', 1, 'one', 1)).toBe(false)
      expect(await store.putProvider('p', 2, 'again', 1)).toBe(false)
      expect(await store.getProvider('p')).toEqual({ seq: 2, body: 'two' })
      expect(await store.listProviders()).toEqual([{ providerId: 'p', seq: 2, body: 'two' }])
      await store.deleteProvider('p')
      expect(await store.listProviders()).toEqual([])
      const sig = {
        orderId: '0xo',
        relayerId: 'r1',
        settlementHash: 'h1',
        signer: '0xs',
        signature: '0x1',
        receivedAt: 1,
      }
      expect(await store.putSignature(sig)).toBe(true)
      expect(await store.putSignature(sig)).toBe(false)
      expect(await store.putSignature({ ...sig, settlementHash: 'h2', signature: '0x2' })).toBe(true)
      expect(await store.listSignatures('0xo')).toEqual([{ ...sig, settlementHash: 'h2', signature: '0x2' }])
      await store.deleteSignature('0xo', 'r1')
      expect(await store.listSignatures('0xo')).toEqual([])
      expect(await store.getCursor('c')).toBe(0)
      await store.setCursor('c', 41)
      await store.setCursor('c', 42)
      expect(await store.getCursor('c')).toBe(42)
      expect(await store.isWritable()).toBe(true)
    },
  )
}

function orderListingContract(
  withStore: (name: string, body: (store: Store) => Promise<void>) => void,
): void {
  withStore('counts the submissions still pending, per chain', async (store) => {
    const sub = (chain: string, key: string, state: 'pending' | 'confirmed') =>
      store.putSubmission({
        chain: chain as typeof CHAIN,
        key,
        signer: '0xs',
        nonce: 0,
        state,
        payload: {},
        updatedAt: 1,
      })
    expect(await store.countPendingSubmissions()).toEqual({})
    await sub(CHAIN, 'settle:1', 'pending')
    await sub(CHAIN, 'settle:2', 'pending')
    await sub(CHAIN, 'settle:3', 'confirmed')
    await sub('solana:devnet', 'settle:1', 'pending')
    expect(await store.countPendingSubmissions()).toEqual({ [CHAIN]: 2, 'solana:devnet': 1 })
  })

  withStore(
    'pages orders filtered by chain, renter (any case of 0x-hex), provider and state',
    async (store) => {
      const renter = '0xAbCdEf0000000000000000000000000000000001'
      const other = `0x${'22'.repeat(32)}` as const
      await store.insertOrder({ ...terms(1), renter }, 1)
      await store.insertOrder({ ...terms(2), renter, providerId: other }, 1)
      await store.insertOrder({ ...terms(3), chain: 'solana:devnet', renter: 'RenterBase58Case' }, 1)
      await store.insertOrder(terms(4), 1)
      await store.transitionOrder(terms(2).id, ['opened'], 'active', {}, 2)
      const ids = async (filter: OrderFilter, after?: string, limit = 10) =>
        (await store.listOrdersPage(after, limit, filter)).map((o) => Number(BigInt(o.terms.id)))
      expect(await ids({ renter: renter.toLowerCase() })).toEqual([1, 2])
      expect(await ids({ renter: renter.toUpperCase().replace('0X', '0x') })).toEqual([1, 2])
      expect(await ids({ renter: 'renterbase58case' })).toEqual([])
      expect(await ids({ renter: 'RenterBase58Case' })).toEqual([3])
      expect(await ids({ providerId: other.toUpperCase().replace('0X', '0x') })).toEqual([2])
      expect(await ids({ chain: 'solana:devnet' })).toEqual([3])
      expect(await ids({ chain: CHAIN, state: 'opened' })).toEqual([1, 4])
      expect(await ids({ renter, state: 'active' })).toEqual([2])
      expect(await ids({ chain: CHAIN }, terms(1).id, 1)).toEqual([2])
    },
  )
}
