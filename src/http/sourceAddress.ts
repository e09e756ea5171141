import { isIPv4, isIPv6 } from 'node:net'

/**
 * The key a per-source rate limit counts a connection under: an IPv4 address
 * as it is (an IPv4-mapped IPv6 one too), and an IPv6 address by its /64,
 * the block one host is usually given, so an attacker cannot get a fresh
 * budget from every address of its own prefix.
 */
export function sourceAddressKey(address: string | undefined): string {
  if (!address) return 'unknown'
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return mapped[1]!
  if (isIPv4(address) || !isIPv6(address)) return address
  // A trailing dotted quad (64:ff9b::1.2.3.4) is two groups.
  const text = address
    .split('%')[0]!
    .toLowerCase()
    .replace(
      /(\d+)\.(\d+)\.(\d+)\.(\d+)$/,
      (_, a: string, b: string, c: string, d: string) =>
        `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`,
    )
  const [head = '', tail] = text.split('::') as [string, string?]
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`
}
