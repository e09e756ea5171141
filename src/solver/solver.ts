import { abortableDelay } from '../abort.js'
import type { ChainEvent, Watcher } from '../chains.js'
import type { ChainId } from '../caip2.js'
import type { Logger } from '../log.js'
import { orderEnd, satsOwed, type OrderTerms } from '../order.js'
import { consumeEvents } from '../orders/eventFeed.js'
import { btcShareClosed, onChainEvent, vaultShareKept, type Transition } from '../orders/lifecycle.js'
import type { OrderRecord } from '../orders/record.js'
import type { Store, Submission } from '../store/store.js'
import { runWatchLoop } from '../watchLoop.js'
import type { Gauge } from 'prom-client'

/** What the solver needs from Bitcoin, as the Bitcoin adapter provides it. */
export interface BtcPayer {
  readonly chain: ChainId
  readonly address: string
  /** Spendable satoshis, coins held by pending payments excluded. */
  balance(exclude: Set<string>): Promise<bigint>
  /** Builds and signs (does not broadcast) a payment of `sats` to `script` tagged with `orderId`, spending none of `exclude` (txid:vout). */
  build(
    orderId: string,
    script: string,
    sats: bigint,
    exclude: Set<string>,
  ): Promise<{ txid: string; hex: string; inputs: string[] }>
  broadcast(hex: string): Promise<void>
  /** Whether the node knows the transaction: mined (with its confirmations), in its mempool, or not at all. */
  status(
    txid: string,
  ): Promise<{ state: 'unknown' } | { state: 'mempool' } | { state: 'mined'; confirmations: number }>
}

export interface SolverOptions {
  /** The solver's address per escrow chain: orders quoting another solver are someone else's. */
  addresses: ReadonlyMap<string, string>
  /** Per escrow chain, the tokens (as its watcher names them) the solver quotes: an order in any other is never paid. */
  tokens: ReadonlyMap<string, ReadonlySet<string>>
  /**
   * Seconds the solver needs between paying and the payout deadline for its
   * payout to be confirmed and proved. With less left it does not pay: a
   * payout the escrow never sees proved is BTC lost, the provider being paid
   * by the fallback as well.
   */
  minPayoutWindowSeconds: number
  watchers: { watcher: Watcher; pollIntervalMs: number }[]
  payer: BtcPayer
  store: Store
  liquidity: Gauge
  logger: Logger
  tickMs?: number
  nowMs?: () => number
}

interface PaymentPayload {
  orderId: string
  txid: string
  hex: string
  inputs: string[]
  sats: string
}

const EVENTS_CURSOR = 'solver:events'
const LIQUIDITY_EVERY_MS = 15_000

/**
 * Pays the BTC a settled order owes its provider, once. The signed payment is
 * stored before it is broadcast; after a crash a stored payment is
 * rebroadcast as it is, never rebuilt, so an order cannot be paid twice.
 */
export class Solver {
  private readonly log: Logger
  private readonly now: () => number
  private liquidityAt = -Infinity

  constructor(private readonly o: SolverOptions) {
    this.log = o.logger.child({ module: 'solver' })
    this.now = o.nowMs ?? Date.now
  }

  async run(signal: AbortSignal): Promise<void> {
    const loops = this.o.watchers.map(({ watcher, pollIntervalMs }) =>
      runWatchLoop(
        watcher,
        { store: this.o.store, logger: this.o.logger, intervalMs: pollIntervalMs },
        signal,
      ).catch((err: unknown) => {
        this.log.error({ chain: watcher.chain, err }, 'escrow watcher stopped; payments stop with it')
      }),
    )
    const ticker = (async () => {
      while (!signal.aborted) {
        try {
          await this.tick()
        } catch (err) {
          this.log.warn({ err }, 'solver tick failed')
        }
        await abortableDelay(this.o.tickMs ?? 1_000, signal).catch(() => undefined)
      }
    })()
    await Promise.all([...loops, ticker])
  }

  /** One pass: learn orders and settlements from the escrow chains, then pay or follow what is owed. */
  async tick(): Promise<void> {
    await consumeEvents(
      this.o.store,
      EVENTS_CURSOR,
      (e) => this.apply(e),
      (e, err) => {
        this.log.error(
          { chain: e.chain, kind: e.kind, key: e.key, err },
          'chain event could not be applied; skipped',
        )
      },
    )
    for (const record of await this.o.store.listOrders(['payout-pending'])) {
      const share = await this.shareOf(record)
      if (share !== undefined) await this.pay(record.terms, share)
    }
    // Reading the wallet's coins is a node round-trip per coin: a gauge needs it only now and then.
    if (this.now() - this.liquidityAt >= LIQUIDITY_EVERY_MS) {
      this.liquidityAt = this.now()
      this.o.liquidity.set(Number(await this.o.payer.balance(await this.pendingInputs())))
    }
  }

  private async apply(e: ChainEvent): Promise<void> {
    if (e.kind === 'OrderOpened') {
      const own = this.o.addresses.get(e.chain)
      const mine = e.order.btc && own !== undefined && sameAddress(own, e.order.btc.solver)
      if (!mine) return
      const refused = this.refusal(e.order)
      if (refused) {
        this.log.warn(
          {
            orderId: e.order.id,
            chain: e.chain,
            token: e.order.token,
            amount: e.order.amount.toString(),
            reason: refused,
          },
          'order quoting this solver refused; it will not be paid in BTC',
        )
        return
      }
      await this.o.store.insertOrder(e.order, this.now())
      return
    }
    // Settled, proved, fallen back or reclaimed: the order state machine says where that leaves the payment owed.
    if ('orderId' in e) {
      const t = onChainEvent(await this.o.store.getOrder(e.orderId), e)
      if (t) await this.transition(e.orderId, t)
    }
  }

  /**
   * Why an order naming this solver is not one it pays, whatever its quote's
   * signature says: a token it does not quote (a worthless one would "repay"
   * it), or more than the quote allows. The escrow checks the quote's bounds
   * too; this holds whatever contract the order came from.
   */
  private refusal(
    order: OrderTerms,
  ): 'TOKEN_NOT_QUOTED' | 'AMOUNT_ABOVE_QUOTE' | 'ENDS_AFTER_QUOTE' | undefined {
    const btc = order.btc!
    if (!this.o.tokens.get(order.chain)?.has(order.token)) return 'TOKEN_NOT_QUOTED'
    if (order.amount > btc.maxAmount) return 'AMOUNT_ABOVE_QUOTE'
    if (orderEnd(order) > btc.latestEnd) return 'ENDS_AFTER_QUOTE'
    return undefined
  }

  private async pay(terms: OrderTerms, toProvider: bigint): Promise<void> {
    const btc = terms.btc!
    const key = `btc-pay:${terms.id}`
    const existing = await this.o.store.getSubmission(this.o.payer.chain, key)
    if (existing) return this.follow(existing)
    const secondsLeft = Number(btc.payoutDeadline) - this.now() / 1000
    if (secondsLeft < this.o.minPayoutWindowSeconds) {
      // Paid this late, the payout could be mined after the deadline, or proved too late: the BTC would be lost and the fallback pay the provider again.
      this.log.warn(
        { orderId: terms.id, secondsLeft: Math.floor(secondsLeft), needed: this.o.minPayoutWindowSeconds },
        'too close to the payout deadline for a proof; not paying, the provider is paid by the fallback instead',
      )
      await this.transition(terms.id, btcShareClosed())
      return
    }
    const sats = satsOwed(btc, toProvider)
    const built = await this.o.payer.build(terms.id, btc.script, sats, await this.pendingInputs())
    const payload: PaymentPayload = {
      orderId: terms.id,
      txid: built.txid,
      hex: built.hex,
      inputs: built.inputs,
      sats: sats.toString(),
    }
    const submission: Submission = {
      chain: this.o.payer.chain,
      key,
      signer: this.o.payer.address,
      nonce: 0,
      state: 'pending',
      payload,
      updatedAt: this.now(),
    }
    await this.o.store.putSubmission(submission)
    this.log.info({ orderId: terms.id, btcTxid: built.txid, sats: sats.toString() }, 'bitcoin payout signed')
    await this.follow(submission)
  }

  /** A stored payment: broadcast it (again) until the node holds it, then wait for it to be mined. */
  private async follow(s: Submission): Promise<void> {
    if (s.state !== 'pending') return
    const p = s.payload as PaymentPayload
    const status = await this.o.payer.status(p.txid)
    if (status.state === 'mined') {
      await this.o.store.putSubmission({ ...s, state: 'confirmed', updatedAt: this.now() })
      await this.transition(p.orderId, btcShareClosed({ btcTxid: p.txid, btcSats: BigInt(p.sats) }))
      this.log.info(
        { orderId: p.orderId, btcTxid: p.txid, confirmations: status.confirmations },
        'bitcoin payout mined',
      )
      return
    }
    if (status.state === 'unknown') {
      try {
        await this.o.payer.broadcast(p.hex)
        this.log.info({ orderId: p.orderId, btcTxid: p.txid }, 'bitcoin payout broadcast')
      } catch (err) {
        // Never rebuilt: if its coins went elsewhere, an operator must look before anything is paid again.
        this.log.error(
          { orderId: p.orderId, btcTxid: p.txid, err },
          'bitcoin payout refused by the node; not paying again automatically',
        )
      }
    }
  }

  /**
   * The provider share an order owes in BTC: an escrow's settlement names it; a vault's settlement release
   * kept it back, and what that release paid out of the deposit says how much.
   */
  private async shareOf(record: OrderRecord): Promise<bigint | undefined> {
    if (record.settlement) return record.settlement.toProvider
    const released = (await this.o.store.listOrderEvents(record.terms.chain, record.terms.id)).find(
      (e) => e.kind === 'VaultReleased',
    )
    return released?.kind === 'VaultReleased' ? vaultShareKept(record.terms, released.payments) : undefined
  }

  private async transition(orderId: string, t: Transition): Promise<void> {
    await this.o.store.transitionOrder(orderId, t.from, t.to, t.patch, this.now())
  }

  private async pendingInputs(): Promise<Set<string>> {
    const pending = await this.o.store.pendingSubmissions(this.o.payer.chain, this.o.payer.address)
    return new Set(pending.flatMap((s) => (s.payload as PaymentPayload).inputs))
  }
}

/** EVM addresses compare without their checksum's case; every other chain's text form is exact (base58 is case-sensitive). */
function sameAddress(a: string, b: string): boolean {
  return a.startsWith('0x') && b.startsWith('0x') ? a.toLowerCase() === b.toLowerCase() : a === b
}
