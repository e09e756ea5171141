import { boundedFetch } from '../http/boundedFetch.js'
import { redactUrls } from '../http/redactUrl.js'
import { errorMessage } from '../errors.js'
import { openEnvelope } from './envelope.js'

/** How old a peer's sealed answer may be. */
const ANSWER_MAX_AGE_MS = 5 * 60_000
const TIMEOUT_MS = 5_000
/** An order id nobody holds: a peer answers it with an empty, sealed page. */
const NO_ORDER = `0x${'0'.repeat(64)}`
const fetchPeer = boundedFetch(1024 * 1024)

export type PeerProbe =
  { reachable: true } | { reachable: false; kind: 'unreachable' | 'http' | 'unsealed'; error: string }

/**
 * Asks a peer for a sealed empty page: reachable, and answering with the
 * identity the quorum's config gives it. What the doctor checks once and
 * the relayer's status page shows as it goes.
 */
export async function probePeer(
  peer: { id: string; url: string; identity: string },
  signal?: AbortSignal,
): Promise<PeerProbe> {
  let res: Response
  try {
    res = await fetchPeer(`${peer.url}/v1/peer/heartbeats?order=${NO_ORDER}`, {
      signal: signal
        ? AbortSignal.any([signal, AbortSignal.timeout(TIMEOUT_MS)])
        : AbortSignal.timeout(TIMEOUT_MS),
    })
  } catch (err) {
    // fetch's own messages may quote the URL, credentials and all.
    return { reachable: false, kind: 'unreachable', error: redactUrls(errorMessage(err)) }
  }
  if (res.status !== 200) return { reachable: false, kind: 'http', error: `answers HTTP ${res.status}` }
  const body: unknown = await res.json().catch(() => undefined)
  const keys = new Map([[peer.id, peer.identity]])
  let opened: unknown
  try {
    opened = openEnvelope('heartbeats', body, peer.id, keys, ANSWER_MAX_AGE_MS)
  } catch {
    opened = undefined
  }
  if (opened === undefined)
    return {
      reachable: false,
      kind: 'unsealed',
      error: `its answer is not sealed by ${peer.id}'s identity ${peer.identity} (or its clock is more than 5 minutes off)`,
    }
  return { reachable: true }
}
