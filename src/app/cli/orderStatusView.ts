import { SLOT_REASONS, slotIsUp, type SlotStatus } from '../../computeSettlement.js'
import { formatGpuRequirement } from '../../gpu/requirement.js'
import { isTerminal } from '../../orders/lifecycle.js'
import { formatAmount, type AmountUnit } from './amounts.js'
import type { EscrowOrderState } from './escrowChain.js'
import type { RelayerOrder, RelayerOrderAnswer } from './relayerOrder.js'
import { gpuSummaryText, telemetrySummary } from './orderTelemetry.js'
import { printable } from './output.js'

/** What `qantara order status` knows of one order: the escrow's word for it, a relayer's view, or both. */
export interface OrderStatus {
  orderId: string
  /** From --chain, or else from the relayer's answer; undefined when neither says. */
  chain: string | undefined
  custody: 'escrow' | 'vault' | undefined
  /** Escrow chains with --rpc and --escrow: the escrow's own state, the one a relayer cannot lie about. */
  onChain?: EscrowOrderState
  /** Where the escrow was read, for people: the RPC (credentials masked) and the escrow address. */
  readFrom?: string
  relayer?: RelayerOrder
  /** `escrow`: the relayer's terms hash to what the escrow holds; `relayer`: they are its word alone. */
  termsFrom?: 'escrow' | 'relayer'
  unit: AmountUnit
}

/**
 * Whether nothing will change without the renter: on an escrow chain the
 * escrow's settled or refunded (a BTC order stays open there until its payout
 * is proved), or a relayer that gave up on the order (disputed, left to
 * reclaim); on a vault chain the relayer's terminal state.
 */
export function isFinal(s: OrderStatus): boolean {
  const state = s.relayer?.order?.state
  if (s.onChain !== undefined)
    return s.onChain === 'settled' || s.onChain === 'refunded' || state === 'disputed'
  return state !== undefined && isTerminal(state)
}

/** Slots by reason, counted from the per-slot statuses themselves rather than the relayer's own tally. */
function slotCounts(uptime: string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const c of uptime) {
    const reason = SLOT_REASONS[c as SlotStatus]
    counts[reason] = (counts[reason] ?? 0) + 1
  }
  return counts
}

/** The status as `--json` prints it: every field always present (null when unknown), amounts in smallest units. */
export function statusJson(s: OrderStatus) {
  const o = s.relayer?.order
  return {
    orderId: s.orderId,
    chain: s.chain ?? null,
    custody: s.custody ?? null,
    onChain: s.onChain ?? null,
    relayer: s.relayer?.relayer ?? null,
    known: s.relayer ? o !== undefined : null,
    state: o?.state ?? null,
    final: isFinal(s),
    decimals: s.unit.decimals ?? null,
    symbol: s.unit.symbol ?? null,
    terms: o ? termsJson(o) : null,
    termsFrom: s.termsFrom ?? null,
    slots: o ? slotsJson(o) : null,
    telemetry: o ? (telemetrySummary(o) ?? null) : null,
    slotDetail: o?.slots?.items ?? null,
    settlement: o?.settlement ? { ...withoutRoot(o.settlement), reason: o.reason ?? null } : null,
    txHash: o?.txHash ?? null,
    btc: o?.btcTxid ? { txid: o.btcTxid, block: o.btcBlock ?? null, sats: o.btcSats ?? null } : null,
  }
}

function termsJson(o: RelayerOrderAnswer) {
  const t = o.terms
  return {
    renter: t.renter,
    providerId: t.providerId,
    payout: t.payout,
    token: t.token,
    amount: t.amount,
    gpu: formatGpuRequirement(t.gpu),
    start: t.start,
    end: o.end,
    slots: t.slots,
    slotLength: t.slotLength,
    btc: t.btc ?? null,
  }
}

function slotsJson(o: RelayerOrderAnswer) {
  const uptime = o.uptime ?? ''
  return {
    total: o.terms.slots,
    up: [...uptime].filter(slotIsUp).length,
    counts: slotCounts(uptime),
    uptime: o.uptime ?? null,
    heartbeats: o.heartbeats ?? null,
  }
}

function withoutRoot<T extends { heartbeatRoot: string }>(s: T): Omit<T, 'heartbeatRoot'> {
  const { heartbeatRoot: _root, ...rest } = s
  return rest
}

/** Uptime past this many slots is shown cut, with how many more there are; --json has all of it. */
const UPTIME_SHOWN = 96

/** The status for people, one fact a line. */
export function statusText(s: OrderStatus): string[] {
  const o = s.relayer?.order
  const where = s.chain ? ` on ${s.chain}${s.custody ? ` (${s.custody})` : ''}` : ''
  const lines = [`order ${s.orderId}${where}${isFinal(s) ? ', final' : ''}`]
  const row = (label: string, text: string) => lines.push(`  ${label.padEnd(10)} ${text}`)
  if (s.onChain !== undefined) row('on chain', `${s.onChain}, read from ${s.readFrom ?? 'the escrow'}`)
  else if (s.custody === 'escrow')
    row('on chain', "not read: give --rpc, --escrow and --chain for the escrow's own state")
  if (s.relayer && !o)
    row('relayer', `${s.relayer.relayer} does not know this order (not seen yet, or no such order)`)
  if (!s.relayer || !o) return lines
  row('state', `${o.state}, as relayer ${s.relayer.relayer} answers`)
  const t = o.terms
  row(
    'terms',
    `${formatAmount(t.amount, s.unit)} of ${t.token} for ${t.slots} × ${t.slotLength} s of ${formatGpuRequirement(t.gpu)}, ${isoTime(t.start)} to ${isoTime(o.end)}`,
  )
  row(
    '',
    s.termsFrom === 'escrow'
      ? '(the terms hash to what the escrow holds)'
      : `(as relayer ${s.relayer.relayer} answers: not checked against the chain)`,
  )
  row('provider', `${t.providerId}, paid to ${t.payout}`)
  const slots = slotsJson(o)
  const counts = Object.entries(slots.counts).map(([reason, n]) => `${reason} ${n}`)
  row(
    'slots',
    `${slots.up} of ${slots.total} up${counts.length ? `: ${counts.join(', ')}` : ''}${o.heartbeats !== undefined ? ` (${o.heartbeats} heartbeats)` : ''}`,
  )
  if (o.uptime)
    row(
      '',
      o.uptime.length > UPTIME_SHOWN
        ? `${o.uptime.slice(0, UPTIME_SHOWN)}… (+${o.uptime.length - UPTIME_SHOWN})`
        : o.uptime,
    )
  const telemetry = telemetrySummary(o)
  if (telemetry) {
    const last = telemetry.from + telemetry.count - 1
    if (telemetry.gpus.length === 0) row('gpus', `no telemetry held for slots ${telemetry.from}-${last}`)
    telemetry.gpus.forEach((g, i) =>
      row(i === 0 ? 'gpus' : '', `${printable(gpuSummaryText(g))}, slots ${telemetry.from}-${last}`),
    )
  }
  const st = o.settlement
  if (st)
    row(
      'split',
      `provider ${formatAmount(st.toProvider, s.unit)}, renter ${formatAmount(st.toRenter, s.unit)}, fee ${formatAmount(st.fee, s.unit)}${st.feeRecipient ? ` to ${st.feeRecipient}` : ''}${o.reason ? ` (${o.reason})` : ''}`,
    )
  if (o.txHash) row('tx', o.txHash)
  if (o.btcTxid)
    row('btc', `${o.btcSats ?? '?'} sats paid in ${o.btcTxid}${o.btcBlock ? ` (block ${o.btcBlock})` : ''}`)
  else if (t.btc)
    row('btc', `provider paid in BTC to script ${t.btc.script} by ${isoTime(t.btc.payoutDeadline)}`)
  return lines
}

/** Unix seconds as an ISO time; a number no date can be (the relayer's to send) as itself. */
function isoTime(seconds: bigint): string {
  return seconds <= 8_640_000_000_000n
    ? new Date(Number(seconds) * 1000).toISOString()
    : `${seconds} (unix s)`
}
