import { z } from 'zod'
import { parseChainId } from '../caip2.js'

/** Field schemas shared by every chain family's config section. */

/** A URL this process calls over HTTP(S); `message` says what else is refused and why. */
export function httpUrl(message: string) {
  return z.string().refine((v) => {
    try {
      return ['http:', 'https:'].includes(new URL(v).protocol)
    } catch {
      return false
    }
  }, message)
}

// Every chain is polled over HTTP: a WebSocket URL would be accepted by a looser check and fail at the first request.
export const rpcUrl = httpUrl(
  'must be an http(s):// URL (chains are polled over HTTP; a ws(s):// endpoint is not used)',
).describe('JSON-RPC endpoint')

export function chainIdIn(namespace: string) {
  return z
    .string()
    .refine((v) => {
      try {
        return parseChainId(v).namespace === namespace
      } catch {
        return false
      }
    }, `must be a CAIP-2 chain id in the ${namespace} namespace, e.g. ${namespace}:1`)
    .describe('CAIP-2 chain id')
}

/** A decimal integer string or a safe integer, as a bigint: money and gas never go through floats. */
export const bigintish = z
  .union([
    z.string().regex(/^\d+$/, 'must be a non-negative decimal integer'),
    z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  ])
  .transform((v) => BigInt(v))
