import type { ChainId } from '../caip2.js'
import type { ChainEvent } from '../chains.js'
import { parseExact } from '../json.js'
import type { OrderTerms } from '../order.js'
import type { OrderRecord, OrderState } from '../orders/record.js'
import type { ComputeVerdict } from '../gpu/transcript.js'
import {
  addressKey,
  type OrderFilter,
  type StoredHeartbeat,
  type Submission,
  type SubmissionState,
} from './store.js'

/** An orders row as both stores keep it: terms, settlement and amounts as exact text. */
export interface OrderRow {
  id: string
  state: string
  terms: string
  settlement: string | null
  reason: string | null
  uptime: string | null
  tx_hash: string | null
  btc_txid: string | null
  btc_block: string | null
  btc_sats: string | null
  updated_at: number
  compacted_at?: number | string | null
}

export interface SubmissionRow {
  chain: string
  key: string
  signer: string
  nonce: number
  state: string
  payload: string
  updated_at: number
}

export function toOrder(r: OrderRow): OrderRecord {
  return {
    terms: parseExact<OrderTerms>(r.terms),
    state: r.state as OrderState,
    ...(r.settlement ? { settlement: parseExact(r.settlement) } : {}),
    ...(r.reason ? { reason: r.reason as OrderRecord['reason'] } : {}),
    ...(r.uptime ? { uptime: r.uptime } : {}),
    ...(r.tx_hash ? { txHash: r.tx_hash } : {}),
    ...(r.btc_txid ? { btcTxid: r.btc_txid } : {}),
    ...(r.btc_block ? { btcBlock: r.btc_block } : {}),
    ...(r.btc_sats ? { btcSats: BigInt(r.btc_sats) } : {}),
    ...(r.compacted_at !== undefined && r.compacted_at !== null
      ? { compactedAt: Number(r.compacted_at) }
      : {}),
    updatedAt: r.updated_at,
  }
}

export function toSubmission(r: SubmissionRow): Submission {
  return {
    chain: r.chain as ChainId,
    key: r.key,
    signer: r.signer,
    nonce: r.nonce,
    state: r.state as SubmissionState,
    payload: parseExact(r.payload),
    updatedAt: r.updated_at,
  }
}

/** The order an event is about, kept beside it so a vault co-signer can ask whether a release is on chain. */
export function orderIdOf(e: ChainEvent): string | undefined {
  if (e.kind === 'OrderOpened') return e.order.id
  return 'orderId' in e ? e.orderId : undefined
}

/** A heartbeats row as both stores list it (SQLite answers the flag as 0/1, PostgreSQL as a boolean). */
export interface HeartbeatRow {
  seq: number
  order_id: string
  slot: number
  relayer_id: string
  body: string
  received_at: number
  has_transcript: number | boolean
  compute: ComputeVerdict | null
}

export function toHeartbeat(r: HeartbeatRow): StoredHeartbeat & { seq: number } {
  return {
    seq: r.seq,
    orderId: r.order_id,
    slot: r.slot,
    relayerId: r.relayer_id,
    body: r.body,
    receivedAt: r.received_at,
    compute: r.compute,
    ...(r.has_transcript ? { hasTranscript: true } : {}),
  }
}

/** `AND …` clauses of an orders listing's filter and their parameters, with `param(i)` writing the i-th placeholder. */
export function orderFilterSql(
  filter: OrderFilter,
  param: (i: number) => string,
): { where: string; params: string[] } {
  const clauses: [string, string | undefined][] = [
    ['chain', filter.chain],
    ['renter', filter.renter === undefined ? undefined : addressKey(filter.renter)],
    ['provider_id', filter.providerId?.toLowerCase()],
    ['state', filter.state],
  ]
  const params: string[] = []
  let where = ''
  for (const [column, value] of clauses) {
    if (value === undefined) continue
    where += ` AND ${column} = ${param(params.length)}`
    params.push(value)
  }
  return { where, params }
}
