import { createPublicKey, verify } from 'node:crypto'

/** The all-zero ed25519 key: a point of order 4, the refund orders' provider id before security review 2026-12 #13. */
export const ZERO_KEY = `0x${'00'.repeat(32)}` as const
/** R = the identity point, S = 0: valid under a key of order 4 for every message whose challenge hash is a multiple of 4. */
export const FORGED_SIGNATURE = `0x01${'00'.repeat(63)}` as const

/** What OpenSSL alone says, without the key check: the relayer's verification before the fix. */
export function opensslAccepts(publicKey: string, message: Uint8Array, signature: string): boolean {
  const spki = Buffer.concat([
    Buffer.from('302a300506032b6570032100', 'hex'),
    Buffer.from(publicKey.slice(2), 'hex'),
  ])
  return verify(
    null,
    message,
    createPublicKey({ key: spki, format: 'der', type: 'spki' }),
    Buffer.from(signature.slice(2), 'hex'),
  )
}

/** The first of `candidates` whose bytes the forged signature passes OpenSSL for under the zero key. */
export function forgeable<T>(candidates: T[], bytes: (c: T) => Uint8Array): T {
  const hit = candidates.find((c) => opensslAccepts(ZERO_KEY, bytes(c), FORGED_SIGNATURE))
  if (hit === undefined) throw new Error('no candidate is forgeable: try more')
  return hit
}
