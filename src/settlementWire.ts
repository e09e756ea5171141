import { createHash } from 'node:crypto'
import { canonicalJson } from './canonicalJson.js'
import type { Settlement } from './settlement.js'

/** A settlement as relayers exchange it: amounts as decimal strings, so canonical JSON holds it exactly. */
export type SettlementWire = Omit<Settlement, 'toProvider' | 'toRenter' | 'fee'> & {
  toProvider: string
  toRenter: string
  fee: string
}

export function settlementToWire(s: Settlement): SettlementWire {
  return { ...s, toProvider: s.toProvider.toString(), toRenter: s.toRenter.toString(), fee: s.fee.toString() }
}

/** sha256 of the canonical settlement: equal exactly when two relayers computed byte-identical settlements. */
export function settlementHash(s: Settlement): string {
  return `0x${createHash('sha256')
    .update(canonicalJson(settlementToWire(s)))
    .digest('hex')}`
}
