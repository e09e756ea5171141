import { nextLook, onClock, probing, settlementDue, type LifecyclePolicy } from '../orders/lifecycle.js'
import type { OrderRecord } from '../orders/record.js'
import type { BtcPayouts } from './btcPayouts.js'
import type { RelayerContext } from './context.js'
import type { PeerSync } from './peerSync.js'
import type { ProbeScheduler } from './options.js'
import type { Settler } from './settler.js'

/**
 * Moves one live order by the clock and hands it to the part its state
 * needs: the prober while its slots run, peer sync's last pull and the settler
 * once it ends, BTC payouts while its share is owed in BTC.
 */
export class LifecycleDriver {
  constructor(
    private readonly ctx: RelayerContext,
    private readonly policy: LifecyclePolicy,
    private readonly parts: {
      prober: Pick<ProbeScheduler, 'schedule'>
      peers: PeerSync
      settler: Settler
      btc: BtcPayouts
    },
  ) {}

  /**
   * Returns the order as it left it and when it is next due: the caller records that only if the order is still in
   * that state (a transition elsewhere has made it due at once).
   */
  async advance(
    stored: OrderRecord,
    nowS: number,
    signal: AbortSignal,
  ): Promise<{ state: OrderRecord['state']; due: number | null }> {
    const { prober, peers, settler, btc } = this.parts
    let record = stored
    const due = () => ({
      state: record.state,
      due: nextLook(record, this.ctx.now(), this.policy),
    })
    // One tick may cross several boundaries (opened → active → ended).
    for (let t = onClock(record, nowS); t; t = onClock(record, nowS)) {
      if (!(await this.ctx.transition(record.terms.id, t))) return due()
      record = { ...record, state: t.to }
    }
    if (probing(record, nowS)) await prober.schedule(record.terms, signal)
    if (settlementDue(record, nowS, this.policy)) {
      const chain = this.ctx.runtime(record.terms.chain)
      if (!chain || !peers.finalPullDone(record.terms, signal)) return due()
      if (await settler.begin(record, chain)) record = { ...record, state: 'settling' }
    }
    if (record.state === 'settling') settler.schedule(record.terms.id, signal)
    if (record.state === 'payout-pending') btc.schedule(record, nowS, signal)
    return due()
  }
}
