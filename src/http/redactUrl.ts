/** A path segment that may be an API key (a token, base64, a JWT): long. Shorter keys are not told from paths. */
const KEYLIKE_SEGMENT = /^[^/]{16,}$/
/** A host label that may be a key (QuickNode's subdomains): long, with digits. */
const KEYLIKE_LABEL = /^(?=.*\d)[A-Za-z0-9-]{20,}$/
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi
/** Punctuation that ends a sentence or a bracket around a URL, not the URL. */
const TRAILING = /[)\]}.,;:!?'"’]+$/

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
    .map((l) => (KEYLIKE_LABEL.test(l) ? '…' : l))
    .join('.')
  const path = u.pathname
    .split('/')
    .map((s) => (KEYLIKE_SEGMENT.test(s) ? '…' : s))
    .join('/')
  return `${u.protocol}//${host}${path === '/' ? '' : path}${u.search ? '?…' : ''}`
}

/** `text` with every URL in it redacted (an RPC library's error message names the URL it called). */
export function redactUrls(text: string): string {
  return text.replace(URL_IN_TEXT, (match) => {
    const tail = TRAILING.exec(match)?.[0] ?? ''
    return redactUrl(match.slice(0, match.length - tail.length)) + tail
  })
}
