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

/**
 * The memo of the release of a BTC-owed share: `qbtc1:`, the order id's 64 hex
 * digits, then the Bitcoin txid that repaid the solver or `fallback` where the
 * provider was paid instead. A payout repays one order, its tag's; the txid on
 * the vault's history is what an auditor matches it with.
 */
export const BTC_SHARE_MEMO_PREFIX = 'qbtc1:'

const BTC_SHARE_MEMO = new RegExp(`^${BTC_SHARE_MEMO_PREFIX}([0-9a-f]{64}):([0-9a-f]{64}|fallback)$`)

export function encodeBtcShareMemo(orderId: string, btcTxid: string | undefined): string {
  return `${BTC_SHARE_MEMO_PREFIX}${orderId.slice(2)}:${btcTxid ?? 'fallback'}`
}

/** The order and payout a BTC-share memo names (no txid: the fallback), or undefined when it is none. */
export function decodeBtcShareMemo(text: string): { orderId: Hex32; btcTxid?: string } | undefined {
  const m = BTC_SHARE_MEMO.exec(text)
  if (!m) return undefined
  return { orderId: `0x${m[1]!}`, ...(m[2] === 'fallback' ? {} : { btcTxid: m[2]! }) }
}
