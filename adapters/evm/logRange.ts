import { BaseError, HttpRequestError, InvalidParamsRpcError, LimitExceededRpcError } from 'viem'

// Phrases providers use when a getLogs range or result set is too large
// (geth, Erigon, Alchemy, Infura, QuickNode, Ankr, public BSC/Polygon nodes).
const RANGE_PHRASES = [
  /block range/i,
  /range.*(too|exceed)/i,
  /more than \d+ results/i,
  /too many (results|logs)/i,
  /response size/i,
  /query timeout/i,
  /limit exceeded/i,
  /exceed.*max/i,
]

/** Whether an RPC refused a getLogs call because of its range, so a smaller range may succeed. */
export function isRangeRefusal(err: unknown): boolean {
  if (!(err instanceof BaseError)) return false
  const hit = err.walk((e) => {
    if (e instanceof LimitExceededRpcError) return true
    if (e instanceof HttpRequestError && e.status === 413) return true
    const text = e instanceof BaseError ? `${e.details} ${e.shortMessage}` : String(e)
    return (
      (e instanceof InvalidParamsRpcError || e instanceof BaseError) &&
      RANGE_PHRASES.some((p) => p.test(text))
    )
  })
  return hit !== null && hit !== undefined
}

/** The range policy: halve on refusal (down to one block), grow back by doubling after successes, never above the configured maximum. */
export function nextRange(current: number, max: number, outcome: 'refused' | 'ok'): number {
  return outcome === 'refused' ? Math.max(1, Math.floor(current / 2)) : Math.min(max, current * 2)
}
