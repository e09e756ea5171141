import { SLOT_REASONS, slotIsUp, type SlotStatus } from '../computeSettlement.js'
import type { Logger } from '../log.js'
import type { OrderTerms } from '../order.js'
import type { Transition } from '../orders/lifecycle.js'
import type { OrderRecord, OrderState } from '../orders/record.js'
import { NO_PROVIDER } from '../vault/refund.js'
import type { Store } from '../store/store.js'
import type { WebhookEvent } from '../webhooks/events.js'

/** An order with every slot down gives this many slot.down notices; its order.settled notice counts them all. */
export const MAX_SLOT_NOTICES = 256

export type Notify = (event: WebhookEvent) => void

/** The states an order reaches once its settlement (or refund) is final on chain. */
const ON_CHAIN: readonly OrderState[] = ['settled', 'payout-pending', 'refunded', 'disputed']

export function openedNotice(terms: OrderTerms): WebhookEvent {
  const { renter, providerId, token, amount, start, slotLength, slots, btc } = terms
  return {
    type: 'order.opened',
    orderId: terms.id,
    chain: terms.chain,
    data: { renter, providerId, token, amount, start, slotLength, slots, ...(btc ? { btc } : {}) },
  }
}

/**
 * What a transition the store made tells the outside, judged from the state
 * the order was in before it (`before`, read just ahead of the move): its
 * down slots once its settlement is first computed; its settlement final on
 * chain, whether this relayer posted it or its watcher saw it; and a BTC
 * payout proved (a close carrying the payout's txid, never the fallback).
 * Reads the order once for the fields the notice carries; a failure is
 * logged and never reaches the loop that moved the order.
 */
export async function noticeTransition(
  store: Store,
  orderId: string,
  before: OrderState | undefined,
  t: Transition,
  notify: Notify,
  log: Logger,
): Promise<void> {
  const first = t.to === 'settling' && before === 'ended' && t.patch.uptime !== undefined
  const onChain = ON_CHAIN.includes(t.to) && before !== 'payout-pending'
  const proved = t.to === 'settled' && before === 'payout-pending' && t.patch.btcTxid !== undefined
  if (!first && !onChain && !proved) return
  try {
    const record = await store.getOrder(orderId)
    if (!record) return
    if (first) downSlotNotices(record, t.patch.uptime!, notify)
    if (onChain) notify(settledNotice(record, t.to))
    if (proved && record.btcTxid) notify(provedNotice(record))
  } catch (err) {
    log.warn({ orderId, err }, 'could not build the webhook notices of a transition')
  }
}

function downSlotNotices(record: OrderRecord, uptime: string, notify: Notify): void {
  // A refund of a stray deposit has no provider, and an order with no slot up says it all in order.settled:
  // neither may fill a receiver's queue with one notice per slot.
  if (record.terms.providerId === NO_PROVIDER || ![...uptime].some((c) => slotIsUp(c))) return
  let sent = 0
  for (let slot = 0; slot < uptime.length && sent < MAX_SLOT_NOTICES; slot++) {
    const status = uptime[slot] as SlotStatus
    if (slotIsUp(status)) continue
    notify({
      type: 'slot.down',
      orderId: record.terms.id,
      chain: record.terms.chain,
      data: { slot, reason: SLOT_REASONS[status] ?? 'UNKNOWN' },
    })
    sent++
  }
}

function settledNotice(record: OrderRecord, outcome: string): WebhookEvent {
  const s = record.settlement
  return {
    type: 'order.settled',
    orderId: record.terms.id,
    chain: record.terms.chain,
    data: {
      outcome,
      txHash: record.txHash ?? null,
      ...(s
        ? {
            toProvider: s.toProvider,
            toRenter: s.toRenter,
            fee: s.fee,
            upSlots: s.upSlots,
            totalSlots: s.totalSlots,
          }
        : {}),
    },
  }
}

function provedNotice(record: OrderRecord): WebhookEvent {
  return {
    type: 'payout.proved',
    orderId: record.terms.id,
    chain: record.terms.chain,
    data: { btcTxid: record.btcTxid, sats: record.btcSats ?? null, txHash: record.txHash ?? null },
  }
}
