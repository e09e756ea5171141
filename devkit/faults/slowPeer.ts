import { abortableDelay } from '../../src/abort.js'
import type { PeerHandler } from '../../src/peer/routes.js'

/** A relayer that answers every peer request `delayMs` late, as a slow or overloaded one would. */
export function slowPeer(delayMs: number): (honest: PeerHandler) => PeerHandler {
  return (honest) => async (req, res, url) => {
    if (req.method === 'GET' && url.pathname.startsWith('/v1/peer/')) await abortableDelay(delayMs)
    return honest(req, res, url)
  }
}
