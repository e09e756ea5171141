/** A path segment or host label that may be an API key: long, and made of token characters. */
const KEYLIKE = /^[A-Za-z0-9_-]{16,}$/
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi

/**
 * An endpoint as a log line may show it. RPC providers put API keys in the
 * path (`/v2/KEY`), the query (`?api-key=`), the credentials (`user:pass@`)
 * or a host label: credentials are dropped, a query becomes `?…`, and a
 * key-like path segment or host label becomes `…`; scheme, host and port stay,
 * so an operator can still tell endpoints apart.
 */
export function redactUrl(url: string): string {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return '[unparseable url]'
  }
  const host = u.host
    .split('.')
    .map((l) => (KEYLIKE.test(l) && /\d/.test(l) ? '…' : l))
    .join('.')
  const path = u.pathname
    .split('/')
    .map((s) => (KEYLIKE.test(s) ? '…' : s))
    .join('/')
  return `${u.protocol}//${host}${path === '/' ? '' : path}${u.search ? '?…' : ''}`
}

/** `text` with every URL in it redacted (an RPC library's error message names the URL it called). */
export function redactUrls(text: string): string {
  return text.replace(URL_IN_TEXT, (url) => redactUrl(url))
}
