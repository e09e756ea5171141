import type { ChainEvent } from '../chains.js'
import { assertNever } from '../errors.js'
import {
  onChainEvent,
  owedInBtc,
  vaultShareKept,
  withKeptShare,
  type Transition,
} from '../orders/lifecycle.js'
import type { OrderRecord } from '../orders/record.js'
import type { BtcPayouts } from './btcPayouts.js'
import type { RelayerContext } from './context.js'
import type { OrderIntake } from './orderIntake.js'
import type { Settler } from './settler.js'

/** Applies one finalised chain event: new orders and refunds to the intake, the rest through the order lifecycle. */
export class ChainEvents {
  constructor(
    private readonly ctx: RelayerContext,
    private readonly intake: OrderIntake,
    private readonly settler: Settler,
    private readonly btc: BtcPayouts,
  ) {}

  async apply(e: ChainEvent): Promise<void> {
    switch (e.kind) {
      case 'OrderOpened':
        return this.intake.opened(e)
      case 'VaultDepositIgnored':
        return this.intake.ignored(e)
      case 'BtcPayoutSeen':
        return this.btc.seen(e)
      case 'RelayerSetUpdated':
        // Releases are checked against the set the chain holds at that moment, so signatures are picked by it, not by the config.
        if (
          await this.ctx.store.putRelayerSet(e.chain, {
            version: e.version,
            members: e.members,
            threshold: e.threshold,
          })
        ) {
          this.ctx.log.info(
            { chain: e.chain, version: e.version.toString(), members: e.members, threshold: e.threshold },
            'relayer set updated',
          )
        }
        return
      case 'OrderSettled':
      case 'OrderReclaimed':
      case 'BtcPayoutProved':
      case 'BtcPayoutFallback':
      case 'VaultReleased':
      case 'VaultBtcShareReleased':
        return this.settledOnChain(e)
      default:
        return assertNever(e)
    }
  }

  private async settledOnChain(e: Extract<ChainEvent, { orderId: string }>): Promise<void> {
    const record = await this.ctx.store.getOrder(e.orderId)
    const t = onChainEvent(record, e)
    if (!record || !t) return
    const ours = record.settlement
    if (
      e.kind === 'OrderSettled' &&
      ours &&
      (ours.toProvider !== e.settlement.toProvider || ours.toRenter !== e.settlement.toRenter)
    ) {
      this.ctx.log.warn(
        { orderId: e.orderId, ours, onChain: e.settlement },
        "order settled on chain with a split that differs from ours; the chain's is kept",
      )
    }
    if (e.kind === 'VaultReleased') await this.vaultReleased(e, record, t)
    await this.ctx.transition(e.orderId, t)
  }

  /** What a vault's settlement release adds to its transition: a warning where it paid another split, and the settlement of one this relayer had not computed. */
  private async vaultReleased(
    e: Extract<ChainEvent, { kind: 'VaultReleased' }>,
    record: OrderRecord,
    t: Transition,
  ): Promise<void> {
    const ours = record.settlement
    const paid = (owner: string) =>
      e.payments.filter((p) => p.owner === owner).reduce((sum, p) => sum + p.amount, 0n)
    const { payout, renter } = record.terms
    // A share owed in BTC stays in the vault for the BTC leg.
    const toProvider = ours && !owedInBtc(record.terms, ours.toProvider) ? ours.toProvider : 0n
    if (ours && payout !== renter && (paid(payout) !== toProvider || paid(renter) !== ours.toRenter)) {
      this.ctx.log.warn(
        { orderId: e.orderId, ours, payments: e.payments },
        'vault released a split that differs from ours; the BTC leg owes what it kept',
      )
    }
    // Released by peers before this relayer computed its own (its last pull still running, say): what it makes of
    // its heartbeats still goes on record, so the order says why it settled as it did.
    const chain = ours ? undefined : this.ctx.runtime(e.chain)
    if (!chain) return
    const computed = await this.settler.settlementOf(record.terms, chain)
    const kept = vaultShareKept(record.terms, e.payments)
    t.patch = {
      ...t.patch,
      ...computed,
      ...(computed.settlement ? { settlement: withKeptShare(record.terms, computed.settlement, kept) } : {}),
    }
  }
}
