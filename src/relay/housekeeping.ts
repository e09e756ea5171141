import { ORDER_STATES } from '../orders/record.js'
import type { ChainRuntime } from '../chains.js'
import type { RelayerContext } from './context.js'

const COMPACT_BATCH = 1_000
const GAUGES_EVERY_MS = 5_000
const COMPACT_EVERY_MS = 600_000
const FUNDS_EVERY_MS = 60_000

/** What the relayer does now and then beside its orders: the order gauges, and retention. */
export class Housekeeping {
  private lastGauges = 0

  constructor(private readonly ctx: RelayerContext) {}

  /** Every 5 s, the orders by state, from one grouped count. */
  async gauges(): Promise<void> {
    if (this.ctx.now() - this.lastGauges <= GAUGES_EVERY_MS) return
    this.lastGauges = this.ctx.now()
    const counts = await this.ctx.store.countOrdersByState()
    for (const state of ORDER_STATES) this.ctx.metrics.orders.set({ state }, counts[state] ?? 0)
  }

  /** Every minute, what each chain's signing key (or vault's fee reserve) can pay for; an RPC's failure waits for the next. */
  funds(chains: readonly ChainRuntime[]): void {
    for (const c of chains) {
      if (!c.funds) continue
      const read = c.funds.bind(c)
      this.ctx.tasks.start(
        { kind: 'funds', chain: c.chain },
        async () => {
          try {
            const { account, settlements } = await read()
            this.ctx.metrics.fundedSettlements.set({ chain: c.chain, account }, settlements)
          } catch (err) {
            // The gauge keeps its last value; the log says why it is not moving.
            this.ctx.log.warn({ chain: c.chain, err }, "could not read the signing key's funds")
          }
        },
        FUNDS_EVERY_MS,
      )
    }
  }

  /** Every 10 minutes, compacts the orders finished longer ago than the retention, 1,000 at a time until none are left. */
  compact(signal: AbortSignal): void {
    const after = this.ctx.options.compactAfterMs
    if (after === undefined) return
    this.ctx.tasks.start(
      { kind: 'compact' },
      async () => {
        let total = 0
        for (let n = COMPACT_BATCH; n === COMPACT_BATCH && !signal.aborted; total += n)
          n = await this.ctx.store.compactFinished(this.ctx.now() - after, COMPACT_BATCH, this.ctx.now())
        if (total)
          this.ctx.log.info(
            { orders: total },
            'compacted finished orders: heartbeat bodies and transcripts dropped',
          )
      },
      COMPACT_EVERY_MS,
    )
  }
}
