/**
 * JSON that keeps bigints exact: a bigint is written as {"$bigint":"<decimal>"}
 * and read back as a bigint, so amounts never pass through a float.
 */
export function stringifyExact(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v))
}

export function parseExact<T = unknown>(text: string): T {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v)
      const big = (v as { $bigint?: unknown }).$bigint
      if (keys.length === 1 && typeof big === 'string' && /^-?\d+$/.test(big)) return BigInt(big)
    }
    return v
  }) as T
}
