import { createHash } from 'node:crypto'
import type { ChainId } from '../caip2.js'
import { orderTermsProblem, type Hex32 } from '../order.js'
import { decodeGpuRequirement, encodeGpuRequirement, type GpuRequirement } from '../gpu/requirement.js'

/**
 * The order memo of every vault chain (a Solana Memo instruction, a Cosmos
 * transaction memo): the terms a renter attaches to a plain transfer into the
 * quorum's vault. Text, since both chains want UTF-8 there: `qv2:` and the
 * base64url of a compact binary body. Addresses are the chain's raw bytes;
 * the adapter turns them into its native text form.
 */
export const MEMO_PREFIX = 'qv2:'
/** Bounds the whole memo text: a deposit's memo is read from a chain anyone writes to. */
export const MAX_MEMO_BYTES = 500

/**
 * A solver's quote riding in the memo: the same bounds an EVM escrow's
 * `openBtc` enforces (src/vault/btcQuote.ts checks them), signed by the solver
 * for this order id, token and vault.
 */
export interface VaultQuote {
  /** The provider's Bitcoin output script. */
  script: Uint8Array
  /** The solver's key on the vault chain (its address is derived from it), repaid against a proof. */
  solver: Uint8Array
  satsPerE18: bigint
  payoutDeadline: bigint
  /** The most the order may lock, in the token's smallest units. */
  maxAmount: bigint
  /** Unix seconds after which the quote opens no order. */
  openBy: bigint
  /** Unix seconds by which the order must end. */
  latestEnd: bigint
  /** The solver's signature over the quote's statement (btcQuote.ts), as the vault chain's adapter checks it. */
  signature: Uint8Array
}

export interface VaultOrderMemo {
  /** 16 random bytes: the order id is derived from the chain, the renter and this salt, so nobody else can take a renter's id. */
  salt: Uint8Array
  providerId: Hex32
  start: bigint
  slotLength: number
  slots: number
  /** The GPUs rented. */
  gpu: GpuRequirement
  /** What the renter claims to have sent, in the asset's smallest unit; the chain's own record must agree. */
  amount: bigint
  /** The provider's raw payout address on the vault chain. */
  payout: Uint8Array
  quote?: VaultQuote
}

export type MemoProblem =
  'NOT_AN_ORDER_MEMO' | 'MEMO_TOO_LARGE' | 'UNKNOWN_VERSION' | 'MALFORMED_MEMO' | 'ORDER_OUT_OF_BOUNDS'
export type MemoResult = { ok: true; memo: VaultOrderMemo } | { ok: false; reason: MemoProblem }

const SALT_BYTES = 16
const HAS_QUOTE = 1
const LIMITS = {
  amount: 16,
  payout: 64,
  script: 80,
  solver: 64,
  sats: 16,
  maxAmount: 16,
  signature: 72,
} as const

function minimalBigEndian(v: bigint): Uint8Array {
  if (v === 0n) return new Uint8Array(0)
  const hex = v.toString(16)
  return Uint8Array.from(Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex'))
}

export function encodeOrderMemo(m: VaultOrderMemo): string {
  if (m.salt.length !== SALT_BYTES) throw new RangeError(`salt must be ${SALT_BYTES} bytes`)
  const parts: Uint8Array[] = []
  const u = (bytes: number, v: bigint | number) => {
    const big = BigInt(v)
    if (big < 0n || big >= 1n << BigInt(bytes * 8)) throw new RangeError(`${big} does not fit ${bytes} bytes`)
    parts.push(Buffer.from(big.toString(16).padStart(bytes * 2, '0'), 'hex'))
  }
  const bytes = (b: Uint8Array, max: number) => {
    if (b.length > max) throw new RangeError(`field of ${b.length} bytes exceeds ${max}`)
    parts.push(Uint8Array.of(b.length), b)
  }
  parts.push(Uint8Array.of(m.quote ? HAS_QUOTE : 0), m.salt, Buffer.from(m.providerId.slice(2), 'hex'))
  u(8, m.start)
  u(4, m.slotLength)
  u(4, m.slots)
  u(8, encodeGpuRequirement(m.gpu))
  bytes(minimalBigEndian(m.amount), LIMITS.amount)
  bytes(m.payout, LIMITS.payout)
  if (m.quote) {
    bytes(m.quote.script, LIMITS.script)
    bytes(m.quote.solver, LIMITS.solver)
    bytes(minimalBigEndian(m.quote.satsPerE18), LIMITS.sats)
    u(8, m.quote.payoutDeadline)
    bytes(minimalBigEndian(m.quote.maxAmount), LIMITS.maxAmount)
    u(8, m.quote.openBy)
    u(8, m.quote.latestEnd)
    bytes(m.quote.signature, LIMITS.signature)
  }
  const text = MEMO_PREFIX + Buffer.concat(parts).toString('base64url')
  if (Buffer.byteLength(text) > MAX_MEMO_BYTES)
    throw new RangeError(`memo of ${Buffer.byteLength(text)} bytes exceeds ${MAX_MEMO_BYTES}`)
  return text
}

/** Reads a memo strictly: every length in bounds, every field in range, nothing left over. */
export function decodeOrderMemo(text: string): MemoResult {
  if (Buffer.byteLength(text) > MAX_MEMO_BYTES) return { ok: false, reason: 'MEMO_TOO_LARGE' }
  const version = /^qv(\d+):/.exec(text)
  if (!version) return { ok: false, reason: 'NOT_AN_ORDER_MEMO' }
  if (`qv${version[1]}:` !== MEMO_PREFIX) return { ok: false, reason: 'UNKNOWN_VERSION' }
  const body = text.slice(MEMO_PREFIX.length)
  if (!/^[A-Za-z0-9_-]*$/.test(body)) return { ok: false, reason: 'MALFORMED_MEMO' }
  const b = Buffer.from(body, 'base64url')
  // base64url that does not round-trip carries bits the decoder dropped: not canonical, refused.
  if (b.toString('base64url') !== body) return { ok: false, reason: 'MALFORMED_MEMO' }
  try {
    const r = memoReader(b)
    const flags = r.take(1)[0]!
    if (flags & ~HAS_QUOTE) return { ok: false, reason: 'MALFORMED_MEMO' }
    const salt = Uint8Array.from(r.take(SALT_BYTES))
    const providerId: Hex32 = `0x${r.take(32).toString('hex')}`
    const start = r.uint(8)
    const slotLength = Number(r.uint(4))
    const slots = Number(r.uint(4))
    const gpu = decodeGpuRequirement(r.uint(8))
    const amount = r.number(LIMITS.amount)
    const payout = r.bytes(LIMITS.payout)
    const quote = flags & HAS_QUOTE ? readQuote(r) : undefined
    if (!gpu || !r.done() || payout.length === 0) return { ok: false, reason: 'MALFORMED_MEMO' }
    if (orderTermsProblem({ amount, slotLength, slots, gpu }))
      return { ok: false, reason: 'ORDER_OUT_OF_BOUNDS' }
    return {
      ok: true,
      memo: { salt, providerId, start, slotLength, slots, gpu, amount, payout, ...(quote ? { quote } : {}) },
    }
  } catch {
    return { ok: false, reason: 'MALFORMED_MEMO' }
  }
}

type MemoReader = ReturnType<typeof memoReader>

/** Reads a memo body front to back; every read past the end, over its bound or not minimal throws RangeError. */
function memoReader(b: Buffer) {
  let at = 0
  const take = (n: number): Buffer => {
    if (at + n > b.length) throw new RangeError('short')
    const out = b.subarray(at, at + n)
    at += n
    return out
  }
  const bytes = (max: number): Uint8Array => {
    const n = take(1)[0]!
    if (n > max) throw new RangeError('long')
    return Uint8Array.from(take(n))
  }
  return {
    take,
    bytes,
    uint: (n: number) => BigInt(`0x${take(n).toString('hex')}`),
    number: (max: number): bigint => {
      const raw = bytes(max)
      if (raw.length > 0 && raw[0] === 0) throw new RangeError('not minimal')
      return raw.length ? BigInt(`0x${Buffer.from(raw).toString('hex')}`) : 0n
    },
    done: () => at === b.length,
  }
}

function readQuote(r: MemoReader): VaultQuote {
  const script = r.bytes(LIMITS.script)
  const solver = r.bytes(LIMITS.solver)
  const satsPerE18 = r.number(LIMITS.sats)
  const payoutDeadline = r.uint(8)
  const maxAmount = r.number(LIMITS.maxAmount)
  const openBy = r.uint(8)
  const latestEnd = r.uint(8)
  const signature = r.bytes(LIMITS.signature)
  if (script.length === 0 || solver.length === 0 || satsPerE18 === 0n || maxAmount === 0n)
    throw new RangeError('empty quote')
  return { script, solver, satsPerE18, payoutDeadline, maxAmount, openBy, latestEnd, signature }
}

/** The id of a vault order: bound to its chain and renter, so a copied memo makes another order, never this one. */
export function vaultOrderId(chain: ChainId, renter: string, salt: Uint8Array): Hex32 {
  const field = (s: string) => {
    const b = Buffer.from(s)
    return Buffer.concat([Buffer.of(b.length), b])
  }
  return `0x${createHash('sha256').update('qantara/vault-order/v1').update(field(chain)).update(field(renter)).update(salt).digest('hex')}`
}
