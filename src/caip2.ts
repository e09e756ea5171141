import { QantaraError } from './errors.js'

/** Chain families and the CAIP-2 namespace each is named under. */
export const FAMILY_NAMESPACE = {
  evm: 'eip155',
  solana: 'solana',
  cosmos: 'cosmos',
  bitcoin: 'bip122',
} as const

export type Family = keyof typeof FAMILY_NAMESPACE

/** A CAIP-2 chain id such as `eip155:31337` or `cosmos:cosmoshub-4`. */
export type ChainId = `${string}:${string}`

// CAIP-2: namespace [-a-z0-9]{3,8}, reference [-_a-zA-Z0-9]{1,32}.
const CAIP2 = /^([-a-z0-9]{3,8}):([-_a-zA-Z0-9]{1,32})$/

export function parseChainId(id: string): { namespace: string; reference: string } {
  const m = CAIP2.exec(id)
  if (!m) {
    throw new QantaraError('CONFIG_INVALID', `"${id}" is not a CAIP-2 chain id`, {
      metaMessages: [
        'Expected namespace:reference, e.g. eip155:1, solana:<genesis hash prefix>, cosmos:<chain-id>, bip122:<genesis hash prefix>.',
      ],
    })
  }
  return { namespace: m[1]!, reference: m[2]! }
}

export function familyOfChain(id: string): Family | undefined {
  const { namespace } = parseChainId(id)
  return (Object.keys(FAMILY_NAMESPACE) as Family[]).find((f) => FAMILY_NAMESPACE[f] === namespace)
}

export function evmChainId(numeric: number | bigint): ChainId {
  return `eip155:${numeric}`
}
