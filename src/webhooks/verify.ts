import { ed25519Verify } from '../ed25519.js'

export interface VerifyWebhookParameters {
  /** The raw body as received, before any JSON parsing: the signature covers its exact bytes. */
  body: string | Uint8Array
  /** Node's `req.headers` or a fetch `Headers`. */
  headers: Headers | Record<string, string | string[] | undefined>
  /** The relayer identity key(s) to accept, 32-byte hex with or without 0x: one relayer, or each of a quorum. */
  publicKey: string | readonly string[]
  /** How far Qantara-Timestamp may be from now, either way; 300 by default. */
  toleranceSeconds?: number
  /** Milliseconds since the epoch; Date.now by default. */
  now?: () => number
}

export type VerifyWebhookResult =
  | { ok: true; relayer: string; timestamp: number }
  | { ok: false; reason: 'MISSING_HEADER' | 'UNKNOWN_RELAYER' | 'BAD_SIGNATURE' | 'STALE_TIMESTAMP' }

/**
 * What a receiver checks before trusting a delivery: it comes from an
 * accepted relayer key, the signature covers "<Qantara-Timestamp>.<body>",
 * and the timestamp is recent, so a captured delivery cannot be replayed
 * later. A fresh replay is still possible within the tolerance: receivers
 * deduplicate by Idempotency-Key anyway, since retries and every relayer of a
 * quorum send the same event.
 */
export function verifyWebhook(p: VerifyWebhookParameters): VerifyWebhookResult {
  const relayer = header(p.headers, 'qantara-relayer')?.toLowerCase().replace(/^0x/, '')
  const timestamp = header(p.headers, 'qantara-timestamp')
  const signature = header(p.headers, 'qantara-signature')
  if (!relayer || !timestamp || !signature) return { ok: false, reason: 'MISSING_HEADER' }
  const accepted = (typeof p.publicKey === 'string' ? [p.publicKey] : p.publicKey).map((k) =>
    k.toLowerCase().replace(/^0x/, ''),
  )
  if (!accepted.includes(relayer)) return { ok: false, reason: 'UNKNOWN_RELAYER' }
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'BAD_SIGNATURE' }
  const body = typeof p.body === 'string' ? Buffer.from(p.body, 'utf8') : p.body
  const signed = Buffer.concat([Buffer.from(`${timestamp}.`, 'utf8'), body])
  if (!ed25519Verify(relayer, signed, signature)) return { ok: false, reason: 'BAD_SIGNATURE' }
  const skew = Math.abs((p.now ?? Date.now)() / 1_000 - Number(timestamp))
  if (skew > (p.toleranceSeconds ?? 300)) return { ok: false, reason: 'STALE_TIMESTAMP' }
  return { ok: true, relayer, timestamp: Number(timestamp) }
}

function header(headers: VerifyWebhookParameters['headers'], name: string): string | undefined {
  const value = headers instanceof Headers ? headers.get(name) : findHeader(headers, name)
  return value ?? undefined
}

/** A plain record may come with any case of the name; Node lower-cases, others may not. */
function findHeader(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name)
  const value = key === undefined ? undefined : headers[key]
  return Array.isArray(value) ? value[0] : value
}
