import { formatUnits } from 'viem'
import { InvalidArgumentError } from 'commander'
import { QantaraError } from '../../errors.js'

/**
 * The CLI's one convention for amounts (docs/CLI.md, "Amounts"): every
 * amount taken or printed is an integer of the token's smallest unit, as
 * chains, records and settlements hold it; JSON carries it as a decimal
 * string, and text adds the token's decimals where the command knows them.
 */
export interface AmountUnit {
  /** The token's decimals: read from its chain, or given with --decimals. */
  decimals?: number
  /** The token's symbol, where its chain says it. */
  symbol?: string
}

const MAX_DECIMALS = 36

/** `1500000 (1.5 USDC, 6 decimals)`; without known decimals, `1500000 (smallest units)`. */
export function formatAmount(amount: bigint, unit: AmountUnit = {}): string {
  if (unit.decimals === undefined) return `${amount} (smallest units)`
  const symbol = unit.symbol ? ` ${unit.symbol}` : ''
  return `${amount} (${formatUnits(amount, unit.decimals)}${symbol}, ${unit.decimals} decimals)`
}

/**
 * Reads an amount option: a positive integer of the smallest unit. A decimal
 * such as `12.5` is refused, with what it would be in smallest units where the
 * decimals are known: read either way, one of the two conventions would lock
 * a million times what was meant.
 */
export function parseAmount(text: string, flag: string, unit: AmountUnit = {}): bigint {
  // Every chain's amounts fit 256 bits (an EVM uint256 is the widest): a bigger one is a typo, refused here.
  if (/^[1-9][0-9]{0,77}$/.test(text) && BigInt(text) < 2n ** 256n) return BigInt(text)
  const decimal = /^([0-9]*)\.([0-9]+)$/.exec(text)
  const d = unit.decimals
  const converted =
    decimal && d !== undefined && decimal[2]!.length <= d
      ? BigInt(`${decimal[1]}${decimal[2]!.padEnd(d, '0')}`)
      : undefined
  throw new QantaraError(
    'CONFIG_INVALID',
    `${flag} is an integer of the smallest unit, above 0, not ${JSON.stringify(text)}${
      converted
        ? `: ${text} of this ${d}-decimal token is ${flag} ${converted}`
        : ' (e.g. 12500000 for 12.5 of a 6-decimal token)'
    }`,
  )
}

/** Reads --decimals, which labels amounts a command cannot read the decimals of. */
export function decimalsOption(text: string): number {
  if (!/^[0-9]{1,2}$/.test(text) || Number(text) > MAX_DECIMALS)
    throw new InvalidArgumentError(`a whole number from 0 to ${MAX_DECIMALS}`)
  return Number(text)
}
