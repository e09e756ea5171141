import { describe, expect, it } from 'vitest'
import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import type { ChainEvent } from '../src/chains.js'
import { silentLogger } from '../src/log.js'
import type { OrderTerms } from '../src/order.js'
import {
  btcShareClosed,
  onChainEvent,
  onClock,
  posted,
  settle,
  type Transition,
} from '../src/orders/lifecycle.js'
import { applyTransition } from '../src/relay/context.js'
import type { Settlement } from '../src/settlement.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { NO_PROVIDER } from '../src/vault/refund.js'
import type { WebhookEvent } from '../src/webhooks/events.js'

const CHAIN = 'eip155:31337' as const
const block = { height: 10n, hash: '0xb' }

function terms(i: number, over: Partial<OrderTerms> = {}): OrderTerms {
  return {
    id: `0x${i.toString(16).padStart(64, '0')}`,
    chain: CHAIN,
    renter: '0xr',
    token: 'native',
    amount: 6_000n,
    providerId: `0x${'11'.repeat(32)}`,
    payout: '0xp',
    start: 1_000n,
    slotLength: 60,
    slots: 6,
    gpu: REFERENCE_ORDER_GPU,
    ...over,
  }
}

const settlementOf = (t: OrderTerms, upSlots: number): Settlement => ({
  orderId: t.id,
  toProvider: BigInt(upSlots) * 1_000n,
  toRenter: BigInt(6 - upSlots) * 1_000n,
  fee: 0n,
  feeRecipient: '0xf',
  upSlots,
  totalSlots: 6,
  heartbeatRoot: `0x${'22'.repeat(32)}`,
})

/** A store with the order ended, and the relayer's transition as it applies it, collecting what it notifies. */
async function ended(t: OrderTerms) {
  const store = new SqliteStore(':memory:')
  await store.insertOrder(t, 1)
  const sent: WebhookEvent[] = []
  const notices = { notify: (e: WebhookEvent) => sent.push(e), log: silentLogger() }
  const apply = (tr: Transition) => applyTransition(store, t.id, tr, 2, () => undefined, notices)
  await apply(onClock({ state: 'opened', terms: t }, 2_000)!)
  const chainEvent = async (e: ChainEvent) => apply(onChainEvent(await store.getOrder(t.id), e)!)
  return { store, sent, apply, chainEvent }
}

const types = (sent: WebhookEvent[]) =>
  sent.map((e) => (e.type === 'slot.down' ? `slot.down:${String(e.data.slot)}` : e.type))

describe("webhook notices from the relayer's transitions, on a real store", () => {
  it('notifies each down slot once at the first settlement, and the settlement once, whether the watcher or the poster moves it', async () => {
    for (const watcherFirst of [true, false]) {
      const t = terms(watcherFirst ? 1 : 2)
      const m = await ended(t)
      const s = settlementOf(t, 3)
      await m.apply(settle('ended', { settlement: s, reason: 'PARTIAL_DOWNTIME', uptime: 'CM..CC' }))
      // Gossip converged on another set: recomputed, no second round of slot notices.
      await m.apply(settle('settling', { settlement: s, reason: 'PARTIAL_DOWNTIME', uptime: 'CM..CC' }))
      const seen: ChainEvent = {
        kind: 'OrderSettled',
        chain: CHAIN,
        key: 'k',
        block,
        txHash: '0xt',
        orderId: t.id,
        settlement: s,
      }
      if (watcherFirst) await m.chainEvent(seen)
      await m.apply(posted(t, s, '0xt'))
      if (!watcherFirst) expect(onChainEvent(await m.store.getOrder(t.id), seen)).toBeDefined()
      expect(types(m.sent)).toEqual(['slot.down:1', 'slot.down:2', 'slot.down:3', 'order.settled'])
      expect(m.sent.find((e) => e.type === 'slot.down')!.data).toEqual({ slot: 1, reason: 'GPU_MISSING' })
      expect(m.sent.at(-1)!.data).toMatchObject({
        outcome: 'settled',
        toProvider: 3_000n,
        upSlots: 3,
        txHash: '0xt',
      })
      await m.store.close()
    }
  })

  it('notifies a BTC order settled when its share becomes owed, and payout.proved only for a close naming the proved payout', async () => {
    const btc = {
      script: '0014' + '33'.repeat(20),
      solver: '0xs',
      satsPerE18: 10n ** 18n,
      payoutDeadline: 5_000n,
      maxAmount: 6_000n,
      openBy: 900n,
      latestEnd: 2_000n,
    }
    for (const proved of [true, false]) {
      const t = terms(proved ? 3 : 4, { btc })
      const m = await ended(t)
      const s = settlementOf(t, 6)
      await m.apply(settle('ended', { settlement: s, reason: 'FULL', uptime: 'CCCCCC' }))
      await m.chainEvent({
        kind: 'OrderSettled',
        chain: CHAIN,
        key: 'k',
        block,
        txHash: '0xt',
        orderId: t.id,
        settlement: s,
      })
      expect((await m.store.getOrder(t.id))!.state).toBe('payout-pending')
      if (proved) await m.apply(btcShareClosed({ btcTxid: '0xbtc', btcSats: 6_000n }))
      else
        await m.chainEvent({
          kind: 'BtcPayoutFallback',
          chain: CHAIN,
          key: 'f',
          block,
          txHash: '0xf',
          orderId: t.id,
        })
      expect(types(m.sent)).toEqual(proved ? ['order.settled', 'payout.proved'] : ['order.settled'])
      expect(m.sent[0]!.data).toMatchObject({ outcome: 'payout-pending' })
      if (proved) expect(m.sent[1]!.data).toEqual({ btcTxid: '0xbtc', sats: 6_000n, txHash: '0xt' })
      await m.store.close()
    }
  })

  it('sends no slot notices for an order with no slot up, nor for the refund of a stray deposit', async () => {
    for (const t of [terms(5), terms(6, { providerId: NO_PROVIDER })]) {
      const m = await ended(t)
      const uptime = t.providerId === NO_PROVIDER ? 'CC....' : '......'
      await m.apply(settle('ended', { settlement: settlementOf(t, 0), reason: 'NO_SHOW', uptime }))
      await m.apply(posted(t, settlementOf(t, 0), '0xt'))
      expect(types(m.sent)).toEqual(['order.settled'])
      await m.store.close()
    }
  })
})
