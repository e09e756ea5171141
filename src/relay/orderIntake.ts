import { openedNotice } from './orderNotices.js'
import type { ChainEvent } from '../chains.js'
import { orderTermsProblem, type OrderTerms } from '../order.js'
import { refundOrder } from '../vault/refund.js'
import { gpuClassById } from '../gpu/classes.js'
import type { RelayerContext } from './context.js'

type Opened = Extract<ChainEvent, { kind: 'OrderOpened' }>
type Ignored = Extract<ChainEvent, { kind: 'VaultDepositIgnored' }>

/**
 * Which opened orders this relayer takes on, and what becomes of the rest: on
 * an escrow chain the renter reclaims an order nobody serves; in a vault only
 * the quorum can move the deposit, so it is refunded by an order of its own.
 */
export class OrderIntake {
  constructor(private readonly ctx: RelayerContext) {}

  async opened(e: Opened): Promise<void> {
    const { store, metrics, log } = this.ctx
    const vault = this.ctx.runtime(e.chain)?.kind === 'vault'
    // The escrow and the memo codec refuse such terms too; this holds for any chain or contract version.
    const problem = orderTermsProblem(e.order) ?? this.tokenProblem(e.order) ?? this.gpuProblem(e.order)
    if (problem) {
      metrics.ordersRefused.inc({ chain: e.chain, reason: problem })
      const { id, token, slots, slotLength } = e.order
      log.warn(
        {
          orderId: id,
          chain: e.chain,
          reason: problem,
          token,
          amount: e.order.amount.toString(),
          slots,
          slotLength,
        },
        "opened order not taken on (out of the protocol's bounds, or a token or amount this relayer does not serve)",
      )
      if (vault) await this.ignored(depositIgnored(e, `${e.key}:refused`, problem))
      return
    }
    if (await store.insertOrder(e.order, this.ctx.now())) {
      log.info({ orderId: e.order.id, chain: e.chain, amount: e.order.amount.toString() }, 'order opened')
      this.ctx.options.notify?.(openedNotice(e.order))
      return
    }
    // A second deposit under an id already taken (the watchers refuse these; this catches one committed before they did).
    const first = (await store.listOrderEvents(e.chain, e.order.id)).find((x) => x.kind === 'OrderOpened')
    if (vault && first && first.txHash !== e.txHash)
      await this.ignored(depositIgnored(e, `${e.key}:duplicate`, 'DUPLICATE_ORDER'))
  }

  /** A vault deposit that opened no order: refunded to its sender by an order the quorum settles all to the renter. */
  async ignored(e: Ignored): Promise<void> {
    const vault = this.ctx.runtime(e.chain)?.kind === 'vault'
    const nowS = BigInt(Math.floor(this.ctx.now() / 1000))
    const refund = vault ? refundOrder(e, nowS, this.ctx.options.refundAfterSeconds ?? 3_600) : undefined
    const fields = {
      chain: e.chain,
      txHash: e.txHash,
      reason: e.reason,
      sender: e.sender,
      amount: e.amount.toString(),
      refundOrder: refund?.id,
    }
    if (refund) {
      this.ctx.log.warn(fields, 'vault deposit opened no order; refunding it to its sender')
      await this.ctx.store.insertOrder(refund, this.ctx.now())
    } else {
      this.ctx.log.warn(
        fields,
        'vault deposit opened no order and cannot be refunded (no sender or nothing received)',
      )
      this.ctx.metrics.vaultDepositsUnrefunded.inc({ chain: e.chain })
    }
  }

  /** A class only tests use, named on a network that is not a test: no production relayer measures it. */
  private gpuProblem(terms: OrderTerms): 'TEST_GPU_CLASS' | undefined {
    return gpuClassById(terms.gpu.class)?.testOnly && !this.ctx.options.acceptTestGpuClasses
      ? 'TEST_GPU_CLASS'
      : undefined
  }

  /** Whether this relayer serves the order's token on its chain, at this amount: its settlement costs gas whatever the order is worth. */
  private tokenProblem(terms: OrderTerms): 'TOKEN_NOT_SERVED' | 'BELOW_MIN_AMOUNT' | undefined {
    const served = this.ctx.runtime(terms.chain)?.minAmounts
    if (!served) return undefined
    const min = served.get(terms.token)
    if (min === undefined) return 'TOKEN_NOT_SERVED'
    return terms.amount < min ? 'BELOW_MIN_AMOUNT' : undefined
  }
}

function depositIgnored(e: Opened, key: string, reason: string): Ignored {
  return {
    kind: 'VaultDepositIgnored',
    chain: e.chain,
    key,
    block: e.block,
    txHash: e.txHash,
    reason,
    sender: e.order.renter,
    token: e.order.token,
    amount: e.order.amount,
  }
}
