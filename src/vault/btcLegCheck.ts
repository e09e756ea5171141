import type { BtcPayoutRail } from '../btcRail.js'
import { isQantaraError } from '../errors.js'
import { btcPayoutStep, vaultShareKept, withKeptShare } from '../orders/lifecycle.js'
import type { Settlement } from '../settlement.js'
import type { Store } from '../store/store.js'
import type { OrderRecord } from '../orders/record.js'
import { vaultBtcPayoutProblem } from './btcShare.js'
import type { ReleaseLeg } from './releaseLeg.js'

/** Where a relayer judges a BTC-share leg from: its own Bitcoin source, and whether its watcher is at the head. */
export interface BtcLegWitness {
  rail: BtcPayoutRail | undefined
  bitcoinCaughtUp: boolean
  nowS: bigint
  signal?: AbortSignal
}

/**
 * Why this relayer will not sign (or build) the release of a BTC-owed share
 * for `leg`, judged from its own store and its own Bitcoin source, never a
 * peer's word: to the solver only against a payout it proves itself
 * `confirmations` deep (btcShare.ts says what the payout must be); to the
 * provider only once the proof window has closed, its Bitcoin watcher is at
 * the head, and it has seen no payout of what is owed. The settlement leg has
 * nothing to judge here.
 */
export async function btcLegProblem(
  record: Pick<OrderRecord, 'terms' | 'state' | 'settlement' | 'btcTxid' | 'btcBlock' | 'btcSats'>,
  leg: ReleaseLeg,
  w: BtcLegWitness,
): Promise<string | undefined> {
  if (leg.kind === 'settlement') return undefined
  const { terms, settlement } = record
  if (!terms.btc || !settlement) return 'NOT_A_BTC_ORDER'
  if (record.state !== 'payout-pending') return 'NOT_PAYOUT_PENDING'
  if (leg.kind === 'btc-fallback') {
    const step = btcPayoutStep(record, Number(w.nowS), w.bitcoinCaughtUp)
    if (step === 'fallback') return undefined
    return step === 'wait' ? 'PROOF_WINDOW_OPEN_OR_BITCOIN_BEHIND' : 'PAYOUT_MADE'
  }
  if (!w.rail) return 'NO_BITCOIN_SOURCE'
  let payout
  try {
    payout = await w.rail.checkPayout(leg.btcTxid, leg.btcBlock, w.signal)
  } catch (err) {
    if (isQantaraError(err, 'ABORTED')) throw err
    return `PAYOUT_NOT_PROVED: ${(err as Error).message.slice(0, 200)}`
  }
  return vaultBtcPayoutProblem(terms, settlement.toProvider, payout, w.nowS)
}

/**
 * The settlement a BTC leg is built and judged from: ours, with the provider's
 * share what the vault kept, as this relayer's watcher read its settlement
 * release; undefined until it has read it. Never the order record's alone,
 * which an event not yet applied (or our own post) may leave at our split.
 */
export async function btcLegSettlement(
  store: Pick<Store, 'listOrderEvents'>,
  record: Pick<OrderRecord, 'terms' | 'settlement'>,
): Promise<Settlement | undefined> {
  const { terms, settlement } = record
  const released = (await store.listOrderEvents(terms.chain, terms.id)).find(
    (e) => e.kind === 'VaultReleased',
  )
  if (released?.kind !== 'VaultReleased' || !settlement) return undefined
  return withKeptShare(terms, settlement, vaultShareKept(terms, released.payments))
}
