import type { ChainId } from '../caip2.js'
import type { Hex32 } from '../order.js'
import type { OrderState } from '../orders/record.js'
import type { Store } from '../store/store.js'
import { isBtcLeg, SETTLEMENT_LEG, type ReleaseLeg } from './releaseLeg.js'
import { alreadyReleased, cosignRefused } from './refusals.js'

/** States past which an order's deposit is no longer the vault's to release: paid out, refunded or given up on. */
const CLOSED: readonly OrderState[] = ['settled', 'refunded', 'disputed']

/**
 * Refuses, before a vault chain's co-signer signs a release, a leg its own store says is done with: a release
 * of it read from the chain (details ALREADY_RELEASED), or the order settled, refunded or disputed here
 * (details ORDER_CLOSED). Not retryable: neither ever reverts. What a BTC-share leg needs first (the order
 * payout-pending, its settlement release read, the payout proved) the relayer judges before it asks this
 * engine (src/relay/cosignRequests.ts). The chain's own once-only guard (a Solana receipt frozen by the
 * release, a Cosmos release at the vault's one sequence) stays the last word; this one also holds where that
 * guard was missing, e.g. an order released by old code that froze no receipt (security review 2026-12, L2).
 */
export async function assertReleaseOpen(
  store: Pick<Store, 'listOrderEvents' | 'getOrder'>,
  chain: ChainId,
  orderId: Hex32,
  leg: ReleaseLeg = SETTLEMENT_LEG,
): Promise<void> {
  const kind = isBtcLeg(leg) ? 'VaultBtcShareReleased' : 'VaultReleased'
  const released = (await store.listOrderEvents(chain, orderId)).find((e) => e.kind === kind)
  if (released) throw alreadyReleased(orderId, `the vault already released it in ${released.txHash}`)
  const state = (await store.getOrder(orderId))?.state
  if (state && CLOSED.includes(state))
    throw cosignRefused(orderId, `the order is ${state} here`, 'ORDER_CLOSED')
}
