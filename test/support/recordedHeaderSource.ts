import { sha256d, toDisplayHex } from '../../adapters/bitcoin/header.js'
import type { BitcoinChainSource } from '../../adapters/bitcoin/source.js'
import { QantaraError } from '../../src/errors.js'
import type { HeaderEntry } from '../../devkit/btcVectors.js'

/**
 * Recorded mainnet headers served as a Bitcoin source: regtest never
 * retargets, so a real retarget can only come from recorded data. `tip` is
 * how far the recorded chain has "grown"; it serves headers only.
 */
export function recordedHeaderSource(
  entries: HeaderEntry[],
): BitcoinChainSource & { tip: number; tamper?: number } {
  const byHeight = new Map(entries.map((e) => [e.height, e.hex.replace(/^0x/, '')]))
  const byHash = new Map(
    entries.map((e) => [toDisplayHex(sha256d(Buffer.from(e.hex.replace(/^0x/, ''), 'hex'))), e]),
  )
  const missing = (what: string) =>
    Promise.reject(new QantaraError('RPC_BAD_RESPONSE', `not recorded: ${what}`))
  const source = {
    tip: Math.max(...entries.map((e) => e.height)),
    tamper: undefined as number | undefined,
    getBlockCount: () => Promise.resolve(source.tip),
    getBlockHash(height: number) {
      const hex = height <= source.tip ? byHeight.get(height) : undefined
      return hex
        ? Promise.resolve(toDisplayHex(sha256d(Buffer.from(hex, 'hex'))))
        : missing(`height ${height}`)
    },
    getBlockHeaderHex(hash: string) {
      const e = byHash.get(hash)
      if (!e) return missing(`header ${hash}`)
      const hex = e.hex.replace(/^0x/, '')
      // A tampered header: its nonce changed, so it no longer meets its target.
      return Promise.resolve(e.height === source.tamper ? hex.slice(0, 152) + 'ffffffff' : hex)
    },
    getBlockHeight: (hash: string) =>
      byHash.has(hash) ? Promise.resolve(byHash.get(hash)!.height) : missing(`block ${hash}`),
    getBlockTxs: () => missing('blocks'),
    inclusion: () => missing('transactions'),
  }
  return source
}
