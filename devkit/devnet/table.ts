import { SLOT_REASONS } from '../../src/computeSettlement.js'
export interface DevnetOrderRow {
  orderId: string
  chain: string
  token: string
  status: string
  upSlots: number
  totalSlots: number
  amount: string
  toProvider: string
  toRenter: string
  fee: string
  reason: string
  txHash: string
  uptime: string
  /** Orders paid in BTC: the proved Bitcoin payout and what it paid the provider. */
  btcTxid?: string
  btcAmountSats?: string
}

/** A fixed-width table of the devnet's orders, for people. */
export function renderTable(rows: DevnetOrderRow[]): string {
  const head = [
    'order',
    'token',
    'status',
    'uptime',
    'up/total',
    'amount',
    'provider',
    'renter',
    'fee',
    'reason',
    'tx',
  ]
  const body = rows.map((r) => [
    `${r.orderId.slice(0, 10)}…`,
    r.token === 'native' ? 'ETH' : `${r.token.slice(0, 8)}…`,
    r.status,
    r.uptime,
    `${r.upSlots}/${r.totalSlots}`,
    r.amount,
    r.toProvider,
    r.toRenter,
    r.fee,
    r.reason,
    r.txHash ? `${r.txHash.slice(0, 10)}…` : '-',
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')
  return [
    line(head),
    widths.map((w) => '─'.repeat(w)).join('  '),
    ...body.map(line),
    '',
    `uptime, one character per slot: ${Object.entries(SLOT_REASONS)
      .map(([c, reason]) => `${c} ${reason}`)
      .join(', ')}`,
  ].join('\n')
}
