import { Block } from 'bitcoinjs-lib'
import { createHash } from 'node:crypto'

export const HEADER_BYTES = 80
/** Blocks per difficulty epoch, and the time one epoch is meant to take. */
export const EPOCH_BLOCKS = 2016
const EPOCH_SECONDS = 14 * 24 * 60 * 60

export interface BitcoinNetworkParams {
  /** The easiest target a header may claim. */
  powLimit: bigint
  /** Regtest keeps one target for ever; mainnet retargets every epoch. */
  noRetargeting: boolean
}

export const MAINNET: BitcoinNetworkParams = {
  powLimit: 0x00000000ffffffffffffffffffffffffffffffffffffffffffffffffffffffffn,
  noRetargeting: false,
}
export const REGTEST: BitcoinNetworkParams = {
  powLimit: 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffn,
  noRetargeting: true,
}

export interface Header {
  raw: Uint8Array
  /** Internal byte order, as the next header's prevHash holds it. */
  hash: Uint8Array
  prevHash: Uint8Array
  merkleRoot: Uint8Array
  time: number
  bits: number
  target: bigint
}

export function sha256d(data: Uint8Array): Uint8Array {
  return createHash('sha256').update(createHash('sha256').update(data).digest()).digest()
}

/** Display order (what explorers and RPCs print) of an internal-order hash. */
export function toDisplayHex(hash: Uint8Array): string {
  return Buffer.from(hash).reverse().toString('hex')
}

export function fromDisplayHex(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex').reverse())
}

/** A 32-byte hash read as the little-endian 256-bit integer proof of work compares. */
export function hashToInt(hash: Uint8Array): bigint {
  return BigInt(`0x${toDisplayHex(hash)}`)
}

/**
 * The target an nBits value stands for, or undefined when it is negative,
 * overflows 256 bits or is zero: consensus treats all three as invalid.
 */
export function bitsToTarget(bits: number): bigint | undefined {
  const size = bits >>> 24
  let word = bits & 0x007fffff
  if (word !== 0 && (bits & 0x00800000) !== 0) return undefined
  if (word !== 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32)))
    return undefined
  let target: bigint
  if (size <= 3) {
    word >>>= 8 * (3 - size)
    target = BigInt(word)
  } else {
    target = BigInt(word) << BigInt(8 * (size - 3))
  }
  return target === 0n ? undefined : target
}

/** The compact form of a target, as Bitcoin Core encodes it. */
export function targetToBits(target: bigint): number {
  let size = target === 0n ? 0 : Math.ceil(target.toString(16).length / 2)
  let compact =
    size <= 3 ? Number(target << BigInt(8 * (3 - size))) : Number(target >> BigInt(8 * (size - 3)))
  if (compact & 0x00800000) {
    compact >>>= 8
    size++
  }
  return (compact | (size << 24)) >>> 0
}

/** Expected hashes to find a header at `target`: the chainwork it adds. */
export function workOf(target: bigint): bigint {
  return (1n << 256n) / (target + 1n)
}

export type HeaderProblem = 'BAD_HEADER_LENGTH' | 'BAD_BITS' | 'INSUFFICIENT_POW'

/** Decodes an 80-byte header; its proof of work is checked apart (see meetsTarget), after the chain's links. */
export function decodeHeader(raw: Uint8Array, params: BitcoinNetworkParams): Header | HeaderProblem {
  if (raw.length !== HEADER_BYTES) return 'BAD_HEADER_LENGTH'
  const block = Block.fromBuffer(raw)
  const target = bitsToTarget(block.bits)
  if (target === undefined || target > params.powLimit) return 'BAD_BITS'
  return {
    raw,
    hash: sha256d(raw),
    prevHash: block.prevHash!,
    merkleRoot: block.merkleRoot!,
    time: block.timestamp,
    bits: block.bits,
    target,
  }
}

export function meetsTarget(h: Header): boolean {
  return hashToInt(h.hash) <= h.target
}

/** Decodes a header and checks it against its own target. */
export function parseHeader(raw: Uint8Array, params: BitcoinNetworkParams): Header | HeaderProblem {
  const h = decodeHeader(raw, params)
  return typeof h === 'string' || meetsTarget(h) ? h : 'INSUFFICIENT_POW'
}

/**
 * The nBits of the epoch after one whose first header was mined at
 * `firstTime` and last at `lastTime` with `lastBits`: Bitcoin Core's rule,
 * the elapsed time clamped to a quarter and four times the two weeks.
 */
export function nextEpochBits(
  lastBits: number,
  firstTime: number,
  lastTime: number,
  params: BitcoinNetworkParams,
): number {
  if (params.noRetargeting) return lastBits
  const elapsed = Math.min(Math.max(lastTime - firstTime, EPOCH_SECONDS / 4), EPOCH_SECONDS * 4)
  let target = (bitsToTarget(lastBits)! * BigInt(elapsed)) / BigInt(EPOCH_SECONDS)
  if (target > params.powLimit) target = params.powLimit
  return targetToBits(target)
}

/** Whether `next` is a target a retarget from `previous` can reach: at most four times easier or harder. */
export function withinRetargetClamp(previous: bigint, next: bigint, params: BitcoinNetworkParams): boolean {
  const easiest = previous * 4n > params.powLimit ? params.powLimit : previous * 4n
  // Core truncates the new target to its compact form, so the hardest reachable one sits just below a quarter.
  return next <= easiest && next >= bitsToTarget(targetToBits(previous / 4n))!
}
