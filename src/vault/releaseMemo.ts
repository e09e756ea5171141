import type { Hex32 } from '../order.js'

/**
 * The release memo of every vault chain (a Solana Memo instruction, a Cosmos
 * transaction memo): `qrel1:` and the order id's 64 hex digits, so the vault's
 * history names the order each payout released. The sibling of the `qv1:`
 * order memo (`orderMemo.ts`) that opens orders.
 */
export const RELEASE_MEMO_PREFIX = 'qrel1:'

const RELEASE_MEMO = new RegExp(`^${RELEASE_MEMO_PREFIX}[0-9a-f]{64}$`)

/** The memo a release of `orderId` (0x and 64 hex digits) carries. */
export function encodeReleaseMemo(orderId: string): string {
  return `${RELEASE_MEMO_PREFIX}${orderId.slice(2)}`
}

/** The order a memo names as released, or undefined when it is no release memo (read strictly: lower-case hex, nothing more). */
export function decodeReleaseMemo(text: string): Hex32 | undefined {
  return RELEASE_MEMO.test(text) ? `0x${text.slice(RELEASE_MEMO_PREFIX.length)}` : undefined
}
