import type { ChainEvent } from '../chains.js'
import { reasonOf, type SettlementResult } from '../computeSettlement.js'
import { assertNever } from '../errors.js'
import { BTC_DUST_SATS, btcProofWindowEnd, orderEnd, satsOwed, type OrderTerms } from '../order.js'
import type { Settlement } from '../settlement.js'
import { ORDER_STATES, type OrderPatch, type OrderRecord, type OrderState } from './record.js'

/**
 * The order state machine, as pure functions of a stored record, an event or
 * the clock: each returns the transition to make (a compare-and-set on the
 * order's state, with what to record) or nothing. The relayer and the solver
 * apply what it returns; neither decides a state on its own.
 *
 *   opened ─start─▶ active ─end─▶ ended ─grace─▶ settling ─posted─▶ settled
 *                                                     │               ▲
 *                                                     └▶ payout-pending (owed in BTC: proof or fallback)
 *   settling ▶ refunded | disputed (the chain refuses it);  any live ▶ refunded (the renter reclaims)
 */

/** States nothing moves an order out of. */
export const TERMINAL_STATES = ['settled', 'refunded', 'disputed'] as const satisfies readonly OrderState[]
export const LIVE_STATES: readonly OrderState[] = ORDER_STATES.filter((s) => !isTerminal(s))

export function isTerminal(state: OrderState): boolean {
  return (TERMINAL_STATES as readonly OrderState[]).includes(state)
}

/** Move an order in one of `from` to `to`, recording `patch`; a no-op for an order in any other state. */
export interface Transition {
  from: readonly OrderState[]
  to: OrderState
  patch: OrderPatch
}

/** The clock's part: when an order's slots begin and end, and how long after the end it settles. */
export interface LifecyclePolicy {
  /** Seconds after the end for late heartbeats. */
  graceSeconds: number
  /** Extra seconds for peers' heartbeats to arrive by gossip. */
  gossipWindowSeconds: number
}

/** Whether a provider's share is paid in BTC by the solver (and proved), rather than on the escrow chain. */
export function owedInBtc(terms: OrderTerms, toProvider: bigint): boolean {
  return terms.btc !== undefined && satsOwed(terms.btc, toProvider) >= BTC_DUST_SATS
}

/** Where a settlement posted or seen on chain leaves its order. */
function afterSettlement(terms: OrderTerms, settlement: Settlement): 'payout-pending' | 'settled' {
  return owedInBtc(terms, settlement.toProvider) ? 'payout-pending' : 'settled'
}

/** The next move the clock makes for an order, if any; apply it and ask again, as one tick may cross several. */
export function onClock(record: Pick<OrderRecord, 'state' | 'terms'>, nowS: number): Transition | undefined {
  const end = Number(orderEnd(record.terms))
  if ((record.state === 'opened' || record.state === 'active') && nowS >= end)
    return { from: ['opened', 'active'], to: 'ended', patch: {} }
  if (record.state === 'opened' && nowS >= Number(record.terms.start))
    return { from: ['opened'], to: 'active', patch: {} }
  return undefined
}

/** Whether an ended order's heartbeats are all in (grace and gossip window past), so its settlement can be computed. */
export function settlementDue(
  record: Pick<OrderRecord, 'state' | 'terms'>,
  nowS: number,
  policy: LifecyclePolicy,
): boolean {
  return (
    record.state === 'ended' &&
    nowS >= Number(orderEnd(record.terms)) + policy.graceSeconds + policy.gossipWindowSeconds
  )
}

/** Whether the prober should be collecting heartbeats for the order now. */
export function probing(record: Pick<OrderRecord, 'state' | 'terms'>, nowS: number): boolean {
  return record.state === 'active' && nowS < Number(orderEnd(record.terms))
}

/** A payout-pending order waits on Bitcoin (its payout seen is an event, which makes it due at once) or on its window. */
export const PAYOUT_RECHECK_MS = 5_000
/**
 * The furthest ahead an order's next look is put: an order starting years
 * from now (its start is the renter's number, bounded only by uint64) is
 * looked at hourly, and every look is a safe integer a store can keep.
 */
export const MAX_LOOK_AHEAD_MS = 3_600_000

/**
 * When the relayer's tick should next look at an order, in ms since the epoch;
 * null for a final state, which nothing looks at again. An active order is
 * due once a slot (its probe is armed on a timer inside the slot; peers'
 * heartbeats arrive by one feed for all orders), a settling one every tick.
 * So a tick's work is what is due, not every live order.
 */
export function nextLook(
  record: Pick<OrderRecord, 'state' | 'terms'>,
  nowMs: number,
  policy: LifecyclePolicy,
): number | null {
  const at = lookAt(record, nowMs, policy)
  if (at === null) return null
  // NaN (terms no clock can read) compares false both ways: looked at once the cap comes round.
  const capped = at <= nowMs ? nowMs : at < nowMs + MAX_LOOK_AHEAD_MS ? at : nowMs + MAX_LOOK_AHEAD_MS
  return Math.floor(capped)
}

function lookAt(
  record: Pick<OrderRecord, 'state' | 'terms'>,
  nowMs: number,
  policy: LifecyclePolicy,
): number | null {
  const { terms } = record
  const startMs = Number(terms.start) * 1000
  const endMs = Number(orderEnd(terms)) * 1000
  switch (record.state) {
    case 'opened':
      return Math.max(nowMs, startMs)
    case 'active': {
      if (nowMs >= endMs) return nowMs
      const slotMs = terms.slotLength * 1000
      const nextSlot = startMs + (Math.floor((nowMs - startMs) / slotMs) + 1) * slotMs
      return Math.min(nextSlot, endMs)
    }
    case 'ended': {
      const settleAt = endMs + (policy.graceSeconds + policy.gossipWindowSeconds) * 1000
      return nowMs < settleAt ? settleAt : nowMs
    }
    // Its steps (last pull, signatures, its turn to post, backoff) run in the background and are timed to the tick;
    // few orders are settling at once.
    case 'settling':
      return nowMs
    case 'payout-pending':
      return nowMs + PAYOUT_RECHECK_MS
    case 'settled':
    case 'refunded':
    case 'disputed':
      return null
    default:
      return assertNever(record.state)
  }
}

/** An ended order takes its first settlement; a settling one takes a recomputed one (gossip converged on another set). */
export function settle(from: 'ended' | 'settling', result: SettlementResult): Transition {
  return {
    from: [from],
    to: 'settling',
    patch: { settlement: result.settlement, reason: result.reason, uptime: result.uptime },
  }
}

/** A settlement this relayer posted is final on chain. */
export function posted(terms: OrderTerms, settlement: Settlement, txHash: string | undefined): Transition {
  return { from: ['settling'], to: afterSettlement(terms, settlement), patch: txHash ? { txHash } : {} }
}

/** The chain will never take the settlement: the renter reclaimed first, or it refuses it for good. */
export function postRefused(why: 'reclaimed' | 'refused'): Transition {
  return { from: ['settling'], to: why === 'reclaimed' ? 'refunded' : 'disputed', patch: {} }
}

/** A BTC order's share has been dealt with: its payout proved, the fallback paid, or (the solver) no longer payable in time. */
export function btcShareClosed(patch: OrderPatch = {}): Transition {
  return { from: ['payout-pending'], to: 'settled', patch }
}

/** A payout seen on Bitcoin for an order, recorded without changing its state. */
export function payoutSeen(
  record: OrderRecord,
  paidSats: bigint,
  btcTxid: string,
  btcBlock: string,
): Transition | undefined {
  const btc = record.terms.btc
  if (!btc || paidSats === 0n) return undefined
  // The first mined payout that pays the provider's script is kept; a later one replaces it only while the kept one pays less than owed.
  const owed = record.settlement ? satsOwed(btc, record.settlement.toProvider) : undefined
  if (record.btcTxid && (owed === undefined || (record.btcSats ?? 0n) >= owed)) return undefined
  return { from: [record.state], to: record.state, patch: { btcTxid, btcBlock, btcSats: paidSats } }
}

/** What a finalised chain event does to the order it names (`undefined` record: an order this process does not hold). */
export function onChainEvent(record: OrderRecord | undefined, e: ChainEvent): Transition | undefined {
  if (!record) return undefined
  switch (e.kind) {
    case 'OrderSettled':
      // The chain's split, not ours: the escrow owes the BTC step on it alone, and a proof or fallback for another
      // share matches no owed order there (security review #16).
      return {
        from: LIVE_STATES,
        to: afterSettlement(record.terms, e.settlement),
        patch: { txHash: e.txHash, settlement: e.settlement, reason: reasonOf(e.settlement) },
      }
    case 'BtcPayoutProved':
      return { from: LIVE_STATES, to: 'settled', patch: { btcTxid: e.btcTxid, btcSats: e.sats } }
    case 'BtcPayoutFallback':
      return { from: LIVE_STATES, to: 'settled', patch: {} }
    case 'OrderReclaimed':
      return { from: LIVE_STATES, to: 'refunded', patch: { txHash: e.txHash } }
    case 'VaultReleased': {
      // The chain's split, not ours, as on OrderSettled: what the BTC leg pays is what the vault kept.
      const kept = vaultShareKept(record.terms, e.payments)
      return {
        from: LIVE_STATES,
        to: owedInBtc(record.terms, kept) ? 'payout-pending' : 'settled',
        patch: {
          txHash: e.txHash,
          ...(record.settlement ? { settlement: withKeptShare(record.terms, record.settlement, kept) } : {}),
        },
      }
    }
    case 'VaultBtcShareReleased':
      return { from: LIVE_STATES, to: 'settled', patch: e.btcTxid ? { btcTxid: e.btcTxid } : {} }
    case 'OrderOpened':
    case 'RelayerSetUpdated':
    case 'BtcPayoutSeen':
    case 'VaultDepositIgnored':
      return undefined
    default:
      return assertNever(e)
  }
}

/**
 * The provider's share a vault's settlement release kept back for the BTC leg: what it did not pay out of the
 * deposit (`payments` leaves out the vault's own account).
 */
export function vaultShareKept(terms: OrderTerms, payments: readonly { amount: bigint }[]): bigint {
  if (!terms.btc) return 0n
  const paid = payments.reduce((sum, p) => sum + p.amount, 0n)
  return paid < terms.amount ? terms.amount - paid : 0n
}

/**
 * A settlement as a vault's settlement release left it: for a BTC order, the provider's share is what the vault
 * kept, whatever this relayer computed (its gossip may not have converged with the set that was released), so
 * every member's BTC leg pays the same amount, and only what the vault holds (security review #16, for vaults).
 */
export function withKeptShare(terms: OrderTerms, settlement: Settlement, kept: bigint): Settlement {
  // Kept below the dust limit: the settlement release paid the provider directly, and ours says what it paid.
  return owedInBtc(terms, kept) && settlement.toProvider !== kept
    ? { ...settlement, toProvider: kept }
    : settlement
}

export type BtcPayoutStep =
  /** Prove the mined payout while the escrow takes proofs. */
  | 'prove'
  /** No payout by the proof window's end: the escrow pays the provider on its own chain. */
  | 'fallback'
  /** Paid, but the window closed before it was proved: nothing may be claimed (it would pay twice). */
  | 'unprovable'
  | 'wait'

/**
 * The step a `payout-pending` order needs. A confirmed payout of what is owed
 * is proved, even past the deadline (the escrow takes a payout Bitcoin dates
 * by the deadline until the proof window closes), and the fallback is never
 * claimed for it. Only a Bitcoin watcher read up to its head can tell that no
 * payout was made (PROTOCOL.md §7).
 */
export function btcPayoutStep(
  record: Pick<OrderRecord, 'terms' | 'settlement' | 'btcTxid' | 'btcBlock' | 'btcSats'>,
  nowS: number,
  bitcoinCaughtUp: boolean,
): BtcPayoutStep {
  const { btc } = record.terms
  if (!btc || !record.settlement) return 'wait'
  const paid =
    record.btcTxid !== undefined &&
    record.btcBlock !== undefined &&
    (record.btcSats ?? 0n) >= satsOwed(btc, record.settlement.toProvider)
  const windowOpen = nowS <= Number(btcProofWindowEnd(btc))
  if (paid) return windowOpen ? 'prove' : 'unprovable'
  return !windowOpen && bitcoinCaughtUp ? 'fallback' : 'wait'
}
