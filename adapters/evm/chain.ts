import { defineChain, type Chain } from 'viem'
import { parseChainId } from '../../src/caip2.js'

/** A viem chain definition for a configured chain; viem needs one, the RPC URLs come from the config. */
export function viemChain(caip2: string, rpc: string[], name?: string): Chain {
  const id = Number(parseChainId(caip2).reference)
  return defineChain({
    id,
    name: name ?? caip2,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: rpc } },
  })
}
