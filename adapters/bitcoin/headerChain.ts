import {
  EPOCH_BLOCKS,
  HEADER_BYTES,
  decodeHeader,
  meetsTarget,
  nextEpochBits,
  withinRetargetClamp,
  workOf,
  type BitcoinNetworkParams,
  type Header,
  type HeaderProblem,
} from './header.js'

export type ChainProblem = HeaderProblem | 'EMPTY_CHAIN' | 'BAD_LINK' | 'UNEXPECTED_BITS' | 'BAD_RETARGET'

export type HeaderChainResult =
  { valid: true; headers: Header[]; work: bigint } | { valid: false; reason: ChainProblem; index: number }

export interface HeaderChainOptions {
  params: BitcoinNetworkParams
  /** Height of the first header; without it an epoch boundary cannot be placed. */
  height?: number
  /** nBits the first header must carry (the epoch target the verifier expects). */
  expectedBits?: number
}

/**
 * Checks a header chain, ascending: every header meets its own target and
 * links to the one before; inside an epoch the bits never change; a change
 * happens only at a retarget, and is computed exactly when the chain holds
 * the whole epoch before it, otherwise held to the ×4 clamp. Without a height,
 * a change is allowed at most once per epoch length.
 */
export function verifyHeaderChain(raws: Uint8Array[], o: HeaderChainOptions): HeaderChainResult {
  if (raws.length === 0) return { valid: false, reason: 'EMPTY_CHAIN', index: 0 }
  // A length problem anywhere is reported first: it means the chain was cut or framed wrongly, not that a header is weak.
  const short = raws.findIndex((r) => r.length !== HEADER_BYTES)
  if (short >= 0) return { valid: false, reason: 'BAD_HEADER_LENGTH', index: short }
  const headers: Header[] = []
  let work = 0n
  let lastChange = -1
  for (const [i, raw] of raws.entries()) {
    const h = decodeHeader(raw, o.params)
    if (typeof h === 'string') return { valid: false, reason: h, index: i }
    const prev = headers[i - 1]
    if (prev && !Buffer.from(h.prevHash).equals(prev.hash))
      return { valid: false, reason: 'BAD_LINK', index: i }
    if (!meetsTarget(h)) return { valid: false, reason: 'INSUFFICIENT_POW', index: i }
    if (!prev) {
      if (o.expectedBits !== undefined && h.bits !== o.expectedBits)
        return { valid: false, reason: 'UNEXPECTED_BITS', index: i }
    } else {
      const problem = checkBits(headers, h, i, lastChange, o)
      if (problem) return { valid: false, reason: problem, index: i }
      if (h.bits !== prev.bits) lastChange = i
    }
    headers.push(h)
    work += workOf(h.target)
  }
  return { valid: true, headers, work }
}

function checkBits(
  headers: Header[],
  h: Header,
  i: number,
  lastChange: number,
  o: HeaderChainOptions,
): ChainProblem | undefined {
  const prev = headers[i - 1]!
  if (o.params.noRetargeting) return h.bits === prev.bits ? undefined : 'UNEXPECTED_BITS'
  if (o.height === undefined) {
    if (h.bits === prev.bits) return undefined
    if (lastChange >= 0 && i - lastChange < EPOCH_BLOCKS) return 'UNEXPECTED_BITS'
    return withinRetargetClamp(prev.target, h.target, o.params) ? undefined : 'BAD_RETARGET'
  }
  const height = o.height + i
  if (height % EPOCH_BLOCKS !== 0) return h.bits === prev.bits ? undefined : 'UNEXPECTED_BITS'
  const epochFirst = i - EPOCH_BLOCKS
  if (epochFirst >= 0)
    return h.bits === nextEpochBits(prev.bits, headers[epochFirst]!.time, prev.time, o.params)
      ? undefined
      : 'BAD_RETARGET'
  return withinRetargetClamp(prev.target, h.target, o.params) ? undefined : 'BAD_RETARGET'
}
