import type { BtcPayoutRail } from '../btcRail.js'
import type { ChainRuntime, SettlementSignature } from '../chains.js'
import { QantaraError } from '../errors.js'
import type { Store } from '../store/store.js'
import { btcLegProblem, btcLegSettlement } from '../vault/btcLegCheck.js'
import { cosignRefused } from '../vault/refusals.js'
import type { ReleaseLeg } from '../vault/releaseLeg.js'

export interface CosignRequestsOptions {
  store: Pick<Store, 'getOrder' | 'listOrderEvents'>
  chains: readonly ChainRuntime[]
  rail?: BtcPayoutRail
  /** Whether this relayer's Bitcoin watcher is read up to its head. */
  bitcoinCaughtUp(): boolean
  nowMs?: () => number
}

/**
 * A relayer's answer to a peer asking it to co-sign a vault release: only
 * for an order it has settled itself, on a vault chain it serves, and for a
 * BTC-share leg only once it has judged that leg from its own Bitcoin source
 * (btcLegCheck.ts). The chain's runtime then rebuilds the release itself and
 * signs only identical bytes.
 */
export function cosignRequests(o: CosignRequestsOptions) {
  const now = o.nowMs ?? Date.now
  return async (orderId: string, message: string, leg: ReleaseLeg): Promise<SettlementSignature> => {
    const record = await o.store.getOrder(orderId)
    if (!record?.settlement)
      throw new QantaraError('COSIGN_REFUSED', `no settlement of ${orderId} here yet`, {
        context: { reason: 'NOT_SETTLED_HERE' },
        retryable: true,
      })
    const runtime = o.chains.find((c) => c.chain === record.terms.chain)
    if (runtime?.kind !== 'vault')
      throw new QantaraError('COSIGN_REFUSED', `${record.terms.chain} releases are not co-signed`, {
        context: { reason: 'NOT_COSIGNED' },
      })
    if (leg.kind === 'settlement') return runtime.cosignRelease(record.terms, record.settlement, message, leg)
    if (!runtime.releaseBtcShare)
      throw cosignRefused(record.terms.id, 'BTC shares are not released on this chain', 'NOT_COSIGNED')
    // What the vault kept, as this relayer's watcher read the settlement release: never the submitter's word.
    const settlement = await btcLegSettlement(o.store, record)
    if (!settlement)
      throw cosignRefused(
        record.terms.id,
        'its settlement release is not read here yet',
        'SETTLEMENT_NOT_READ',
      )
    const problem = await btcLegProblem({ ...record, settlement }, leg, {
      rail: o.rail,
      bitcoinCaughtUp: o.bitcoinCaughtUp(),
      nowS: BigInt(Math.floor(now() / 1000)),
    })
    if (problem)
      throw cosignRefused(record.terms.id, `its BTC share is not released: ${problem}`, problem.split(':')[0])
    return runtime.cosignRelease(record.terms, settlement, message, leg)
  }
}
