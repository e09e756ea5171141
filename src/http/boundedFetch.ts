import { QantaraError } from '../errors.js'

/**
 * A fetch whose response body is cut off at `maxBytes`: an RPC, provider or
 * peer that streams without end gets an error, not our memory.
 */
export function boundedFetch(maxBytes: number, inner: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    const response = await inner(input, { ...init, redirect: 'error' })
    if (!response.body) return response
    const declared = Number(response.headers.get('content-length') ?? 0)
    if (declared > maxBytes) {
      await response.body.cancel()
      throw tooLarge(maxBytes)
    }
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    const chunks: Uint8Array[] = []
    let total = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      total += value.byteLength
      if (total > maxBytes) {
        await reader.cancel()
        throw tooLarge(maxBytes)
      }
      chunks.push(value)
    }
    return new Response(Buffer.concat(chunks), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    })
  }
}

function tooLarge(maxBytes: number): QantaraError {
  return new QantaraError('RPC_BAD_RESPONSE', `response body exceeds ${maxBytes} bytes`, { retryable: true })
}
