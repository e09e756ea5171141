import { expect, it } from 'vitest'
import type { ChainEvent, SettlementSignature, SubmitOutcome, VaultChainRuntime } from '../../src/chains.js'
import { isQantaraError } from '../../src/errors.js'
import type { OrderTerms } from '../../src/order.js'
import type { Settlement } from '../../src/settlement.js'
import type { Store } from '../../src/store/store.js'
import { dyingStore } from './dyingStore.js'
import { codeOf, refusalOf } from './errors.js'

export interface Agreed {
  order: OrderTerms
  settlement: Settlement
}
export type VaultReleased = Extract<ChainEvent, { kind: 'VaultReleased' }>

/**
 * One vault chain with three relayers (relayer-1..3, a 2-of-3 multisig), as a
 * family's runtime suite sets it up: what the shared contract needs of it.
 * Co-signing goes in process: each runtime's `Cosigner` calls the peer's
 * `cosignRelease` with the order and settlement the peer holds, and fails for
 * a member in `down`.
 */
export interface VaultRuntimeBed {
  readonly ids: readonly string[]
  /** Each relayer's address on the chain, in the order of `ids`. */
  addresses(): readonly string[]
  runtimes(): readonly VaultChainRuntime[]
  stores(): readonly Store[]
  /** Relayer `i` as another process over `store` (a restart, a crash). */
  runtime(i: number, store: Store): VaultChainRuntime
  readonly down: Set<string>
  readonly provider: string
  readonly feeRecipient: string
  /** A deposit the watchers read as an order, and its 70% settlement with a 1% fee, which every member holds. */
  settledOrder(amount?: bigint): Promise<Agreed>
  /** What `owner` holds of the vault's asset. */
  balance(owner: string): Promise<bigint>
  vaultBalance(): Promise<bigint>
  /** Returns once every relayer's store holds what the chain did up to `txHash`. */
  readAll(txHash: string): Promise<void>
  /** The vault's releases of an order on chain, read by a watcher from the start. */
  releasesOf(orderId: string): Promise<VaultReleased[]>
  /** The co-signing request relayer-1 would send relayer `cosigner` now for the release of this settlement. */
  releaseRequest(order: OrderTerms, settlement: Settlement, cosigner: number): Promise<string>
  /** Requests for the release of an order released already: now, and in the round the release took where the chain pins one (a Cosmos sequence). */
  requestsAfterRelease(order: OrderTerms, settlement: Settlement, cosigner: number): Promise<string[]>
  /** A request that is no release at all, and the reason a co-signer refuses it with. */
  readonly notARelease: { request: string; why: string }
  /** The store a crashed process of relayer-1 used, kept for its restart. */
  crashStore(): Store
  /** A count that grows with every transaction the vault's signers send (Solana: the ledger; Cosmos: the vault's sequence). */
  vaultWrites(): Promise<number>
  /** The transaction id of a stored release's payload. */
  storedTxHash(payload: unknown): string
  /** The signers of a landed release, payer first, where the chain's transaction names them. */
  signersOf?(txHash: string): string[]
}

const ALREADY_RELEASED = ['COSIGN_REFUSED', 'ALREADY_RELEASED', false]

/**
 * The co-signed release every vault runtime implements (`src/vault/release.ts`),
 * as `it` cases over a family's bed: attestations, settling by quorum once,
 * co-signers replaced and refusing, a crash between storing and sending.
 */
export function vaultRuntimeContract(bed: VaultRuntimeBed): void {
  const attestations = (a: Agreed, who: number[]): Promise<SettlementSignature[]> =>
    Promise.all(who.map((i) => bed.runtimes()[i]!.signSettlement(a.order, a.settlement)))
  /** Submits as the relayer does, with its own and the next member's attestations: a retryable refusal (a watcher not yet caught up) is tried again. */
  async function submit(i: number, a: Agreed): Promise<SubmitOutcome> {
    for (let attempt = 0; ; attempt++) {
      try {
        const runtime = bed.runtimes()[i]!
        return await runtime.submitSettlement(a.order, a.settlement, await attestations(a, [i, (i + 1) % 3]))
      } catch (err) {
        if (!isQantaraError(err) || !err.retryable || attempt > 50) throw err
        await new Promise((ok) => setTimeout(ok, 200))
      }
    }
  }
  const txHashOf = (outcome: SubmitOutcome) => (outcome.status === 'submitted' ? outcome.txHash : '')

  it('verifies attestations from the right member key only', async () => {
    const agreed = await bed.settledOrder()
    const { order, settlement } = agreed
    const [attestation] = await attestations(agreed, [1])
    expect(attestation!.signer).toBe(bed.addresses()[1])
    expect(
      await bed.runtimes()[0]!.verifySettlementSignature(order, settlement, 'relayer-2', attestation!),
    ).toBe(true)
    expect(
      await bed.runtimes()[0]!.verifySettlementSignature(order, settlement, 'relayer-3', attestation!),
    ).toBe(false)
    expect(
      await bed
        .runtimes()[0]!
        .verifySettlementSignature(
          order,
          { ...settlement, toProvider: settlement.toProvider + 1n },
          'relayer-2',
          attestation!,
        ),
    ).toBe(false)
  })

  it('releases the split once: the submitter builds, a peer co-signs, a later submitter finds it done', async () => {
    const agreed = await bed.settledOrder()
    const { order, settlement } = agreed
    const holders = [bed.provider, bed.feeRecipient, order.renter]
    const before = [...(await Promise.all(holders.map((h) => bed.balance(h)))), await bed.vaultBalance()]
    const outcome = await submit(0, agreed)
    expect(outcome.status).toBe('submitted')
    const after = [...(await Promise.all(holders.map((h) => bed.balance(h)))), await bed.vaultBalance()]
    expect([
      after[0]! - before[0]!,
      after[1]! - before[1]!,
      after[2]! - before[2]!,
      before[3]! - after[3]!,
    ]).toEqual([settlement.toProvider, settlement.fee, settlement.toRenter, order.amount])
    expect(await submit(2, agreed)).toEqual({ status: 'already-settled' })
    expect((await bed.balance(bed.provider)) - before[0]!).toBe(settlement.toProvider)

    const released = await bed.releasesOf(order.id)
    expect(released).toEqual([
      expect.objectContaining({ kind: 'VaultReleased', orderId: order.id, txHash: txHashOf(outcome) }),
    ])
    expect(new Map(released[0]!.payments.map((p) => [p.owner, p.amount]))).toEqual(
      new Map([
        [bed.provider, settlement.toProvider],
        [bed.feeRecipient, settlement.fee],
        [order.renter, settlement.toRenter],
      ]),
    )
  })

  it('replaces a co-signer that is down by the next member, and says which failed when none is left', async () => {
    const agreed = await bed.settledOrder()
    bed.down.add('relayer-2')
    try {
      const outcome = await submit(0, agreed)
      expect(outcome.status).toBe('submitted')
      if (bed.signersOf)
        expect(bed.signersOf(txHashOf(outcome))).toEqual([bed.addresses()[0], bed.addresses()[2]])
      await bed.readAll(txHashOf(outcome))
      const next = await bed.settledOrder()
      bed.down.add('relayer-3')
      const err = await bed
        .runtimes()[0]!
        .submitSettlement(next.order, next.settlement, await attestations(next, [0, 1]))
        .catch((e: unknown) => e)
      expect(isQantaraError(err, 'SUBMIT_FAILED') && [err.retryable, err.details]).toEqual([true, undefined])
      expect(isQantaraError(err) && err.message).toMatch(
        /no 1 co-signers .*relayer-2 is down.*relayer-3 is down/,
      )
    } finally {
      bed.down.clear()
    }
  })

  it('co-signs only the exact release of its own settlement, never a greedy, foreign or malformed one, and never once it is released', async () => {
    const agreed = await bed.settledOrder()
    const other = await bed.settledOrder()
    const { order, settlement } = agreed
    const peer = bed.runtimes()[1]!
    const greedy = await bed.releaseRequest(
      order,
      { ...settlement, toProvider: settlement.toProvider + 1n, toRenter: settlement.toRenter - 1n },
      1,
    )
    expect(await codeOf(peer.cosignRelease(order, settlement, greedy))).toBe(
      "COSIGN_REFUSED:it is not the release of this relayer's settlement",
    )
    const foreign = await bed.releaseRequest(other.order, other.settlement, 1)
    expect(await codeOf(peer.cosignRelease(order, settlement, foreign))).toBe(
      "COSIGN_REFUSED:it is not the release of this relayer's settlement",
    )
    expect(await codeOf(peer.cosignRelease(order, settlement, bed.notARelease.request))).toBe(
      `COSIGN_REFUSED:${bed.notARelease.why}`,
    )
    const signed = await peer.cosignRelease(order, settlement, await bed.releaseRequest(order, settlement, 1))
    expect(signed.signer).toBe(bed.addresses()[1])

    // Released, and read by every watcher: no member signs this order again.
    const outcome = await submit(0, agreed)
    expect(outcome.status).toBe('submitted')
    await bed.readAll(txHashOf(outcome))
    expect(
      await codeOf(peer.cosignRelease(order, settlement, await bed.releaseRequest(order, settlement, 1))),
    ).toBe('COSIGN_REFUSED:ALREADY_RELEASED')
  })

  it('after a crash between storing and sending, sends the stored release and never a second one', async () => {
    const agreed = await bed.settledOrder()
    const { order, settlement } = agreed
    const store = bed.crashStore()
    const sent = await bed.vaultWrites()
    // The process dies right after the signed release is stored, before it is sent.
    expect(
      await codeOf(
        bed
          .runtime(0, dyingStore(store))
          .submitSettlement(order, settlement, await attestations(agreed, [0, 1])),
      ),
    ).toBe('Error: killed')
    expect(await bed.vaultWrites()).toBe(sent)
    const stored = await store.getSubmission(bed.runtimes()[0]!.chain, `release:${order.id}`)
    expect(stored?.state).toBe('pending')
    const restarted = await bed
      .runtime(0, store)
      .submitSettlement(order, settlement, await attestations(agreed, [0, 2]))
    expect(restarted).toEqual({
      status: 'submitted',
      txHash: bed.storedTxHash(stored!.payload),
      confirmations: 1,
    })
    expect(await bed.releasesOf(order.id)).toHaveLength(1)
  })

  it('refuses to co-sign the release of an order it holds settled, refunded or disputed, signs it while settling, and, once read back released, refuses it in any round', async () => {
    const agreed = await bed.settledOrder()
    const { order, settlement } = agreed
    const store = bed.stores()[1]!
    await store.insertOrder(order, Date.now())
    const answers: unknown[] = []
    for (const [from, to] of [
      ['opened', 'settling'],
      ['settling', 'settled'],
      ['settled', 'refunded'],
      ['refunded', 'disputed'],
    ] as const) {
      expect(await store.transitionOrder(order.id, [from], to, {}, Date.now())).toBe(true)
      answers.push([
        to,
        await refusalOf(
          bed.runtimes()[1]!.cosignRelease(order, settlement, await bed.releaseRequest(order, settlement, 1)),
        ),
      ])
    }
    expect(answers).toEqual([
      ['settling', 'signed'],
      ['settled', ['COSIGN_REFUSED', 'ORDER_CLOSED', false]],
      ['refunded', ['COSIGN_REFUSED', 'ORDER_CLOSED', false]],
      ['disputed', ['COSIGN_REFUSED', 'ORDER_CLOSED', false]],
    ])

    // relayer-2 holds it disputed: the submitter goes on to relayer-3, and the order is released once.
    const outcome = await submit(0, agreed)
    expect(outcome.status).toBe('submitted')
    await bed.readAll(txHashOf(outcome))
    expect(await bed.releasesOf(order.id)).toHaveLength(1)
    // Read back by every watcher: refused now and in the round the release took, even where no order is held.
    expect(await store.getOrder(order.id)).toMatchObject({ state: 'disputed' })
    expect(await bed.stores()[2]!.getOrder(order.id)).toBeUndefined()
    for (const request of await bed.requestsAfterRelease(order, settlement, 2)) {
      expect(await refusalOf(bed.runtimes()[2]!.cosignRelease(order, settlement, request))).toEqual(
        ALREADY_RELEASED,
      )
    }
  })
}
