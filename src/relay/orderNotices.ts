import { SLOT_REASONS, slotIsUp, type SlotStatus } from '../computeSettlement.js'
import type { Logger } from '../log.js'
import type { OrderTerms } from '../order.js'
import type { Transition } from '../orders/lifecycle.js'
import type { OrderRecord } from '../orders/record.js'
import type { Store } from '../store/store.js'
import type { WebhookEvent } from '../webhooks/events.js'

/** An order with every slot down gives this many slot.down notices; its order.settled notice counts them all. */
export const MAX_SLOT_NOTICES = 256

export type Notify = (event: WebhookEvent) => void

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
 * What a transition the store made tells the outside: the order's down slots
 * once its settlement is first computed, its settlement on chain, and a BTC
 * payout proved. Reads the order once for the fields the notice carries; a
 * failure is logged and never reaches the loop that moved the order.
 */
export async function noticeTransition(
  store: Store,
  orderId: string,
  t: Transition,
  notify: Notify,
  log: Logger,
): Promise<void> {
  const first = t.to === 'settling' && t.from.includes('ended') && t.patch.uptime !== undefined
  const onChain =
    t.to === 'refunded' ||
    t.to === 'payout-pending' ||
    (t.to === 'settled' && !t.from.includes('payout-pending'))
  const proved = t.to === 'settled' && t.from.includes('payout-pending')
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
