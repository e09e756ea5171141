import type { ChainId } from '../caip2.js'
import type { Hex32 } from '../order.js'
import type { Store, Submission, SubmissionState } from '../store/store.js'
import { legKey, type ReleaseLeg } from './releaseLeg.js'

/**
 * A relayer's stored releases on one vault chain. A release is stored
 * `pending` before it is broadcast, so a crash at any line resumes the same
 * bytes and never pays twice; it then ends `confirmed`, `already-settled`
 * (someone's release paid the order) or `failed` (it can never land).
 */
export class ReleaseLedger<Payload> {
  constructor(
    private readonly store: Pick<Store, 'getSubmission' | 'putSubmission'>,
    private readonly chain: ChainId,
    /** The relayer's own address on the chain: its submissions are filed under it. */
    private readonly self: string,
    /** The chain nonce a stored release takes (a Cosmos sequence), 0 where the chain has none to record. */
    private readonly nonceOf: (payload: Payload) => number,
  ) {}

  get(orderId: Hex32, leg: ReleaseLeg): Promise<(Submission & { payload: Payload }) | undefined> {
    return this.store.getSubmission(this.chain, legKey(orderId, leg)) as Promise<
      (Submission & { payload: Payload }) | undefined
    >
  }

  /** Records a release's state; without a payload (an order found released before any was built) it stores `{}`. */
  put(orderId: Hex32, leg: ReleaseLeg, state: SubmissionState, payload?: Payload): Promise<void> {
    const nonce = payload === undefined ? 0 : this.nonceOf(payload)
    return this.store.putSubmission({
      chain: this.chain,
      key: legKey(orderId, leg),
      signer: this.self,
      nonce,
      state,
      payload: payload ?? {},
      updatedAt: Date.now(),
    })
  }
}
