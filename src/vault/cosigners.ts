import type { Cosigner } from '../chains.js'
import { QantaraError } from '../errors.js'
import type { Hex32 } from '../order.js'
import type { ReleaseLeg } from './releaseLeg.js'

/**
 * The multisig signers a submitter asks to co-sign, in the order asked: first
 * those whose attestations of this settlement are in (they hold it, so they
 * are the likeliest to sign), then the others; never itself, never an address
 * outside the multisig.
 */
export function cosignerOrder(
  self: string,
  attested: readonly string[],
  signers: readonly string[],
): string[] {
  const first = [...new Set(attested)].filter((signer) => signer !== self && signers.includes(signer))
  return [...first, ...signers.filter((signer) => signer !== self && !first.includes(signer))]
}

/** Every choice of `k` items from `items`, in order, lazily: a 2-of-3 quorum tries at most two co-signers. */
export function* combinations<T>(items: readonly T[], k: number, from = 0): Generator<T[]> {
  if (k === 0) {
    yield []
    return
  }
  for (let i = from; i <= items.length - k; i++)
    for (const rest of combinations(items, k - 1, i + 1)) yield [items[i]!, ...rest]
}

/** The submitter's failure when too few co-signers signed: every distinct reason, in the order met, in one retryable error. */
export function noCosigners(
  orderId: Hex32,
  need: number,
  failures: readonly string[],
  pinned?: string,
): QantaraError {
  const where = pinned ? ` ${pinned}` : ''
  return new QantaraError(
    'SUBMIT_FAILED',
    `no ${need} co-signers for the release of ${orderId}${where}: ${[...new Set(failures)].join('; ').slice(0, 500)}`,
    { retryable: true },
  )
}

/** One co-signer's answer: its signature, checked, or why there is none. */
export type CosignAnswer = { ok: true; signature: string } | { ok: false; why: string }

/** How a submitter reaches its co-signers and checks what they answer. */
export interface CosignerPanel {
  cosign: Cosigner
  /** Quorum member id of each multisig signer's address. */
  memberOf: ReadonlyMap<string, string>
  /** How the chain's addresses are named in failures: 'Solana', 'Cosmos'. */
  addressKind: string
}

/** Asks `signer` to co-sign `request`, and checks its signature with `verify`; any failure is a reason, never a throw. */
export async function askCosigner(
  panel: CosignerPanel,
  orderId: Hex32,
  signer: string,
  request: string,
  leg: ReleaseLeg,
  verify: (signature: string) => boolean,
  signal?: AbortSignal,
): Promise<CosignAnswer> {
  const id = panel.memberOf.get(signer)
  if (!id) return { ok: false, why: `no quorum member has ${panel.addressKind} address ${signer}` }
  try {
    const answer = await panel.cosign(id, orderId, request, leg, signal)
    if (answer.signer !== signer || !verify(answer.signature))
      return { ok: false, why: `${id} answered with a signature that does not verify` }
    return { ok: true, signature: answer.signature }
  } catch (err) {
    return { ok: false, why: `${id}: ${(err as Error).message}` }
  }
}

/** What one way of gathering ends with: the co-signatures by signer, or every reason it fell short. */
export type Gathered<Draft> = { draft: Draft; signatures: Map<string, string> } | { failures: string[] }

/**
 * For a release that names its signers (Solana): each set of `need` candidates
 * gets its own message, and a set where one fails is replaced as a whole by the
 * next set, since the others' signatures name the one that failed.
 */
export async function gatherBySets<Draft>(
  candidates: readonly string[],
  need: number,
  draftFor: (cosigners: string[]) => Promise<Draft>,
  ask: (draft: Draft, signer: string) => Promise<CosignAnswer>,
  signal?: AbortSignal,
): Promise<Gathered<Draft>> {
  const failures: string[] = []
  for (const cosigners of combinations(candidates, need)) {
    const draft = await draftFor(cosigners)
    const answers = await Promise.all(cosigners.map((signer) => ask(draft, signer)))
    const problems = answers.flatMap((answer) => (answer.ok ? [] : [answer.why]))
    if (problems.length === 0)
      return {
        draft,
        signatures: new Map(
          cosigners.map((signer, i) => [signer, (answers[i] as { signature: string }).signature]),
        ),
      }
    failures.push(...problems)
    if (signal?.aborted) break
  }
  return { failures }
}

/**
 * For a release any `need` co-signatures complete (Cosmos): one message, asked
 * of as many candidates as signatures are missing, each one that fails
 * replaced by the next candidate.
 */
export async function gatherByFill<Draft>(
  candidates: readonly string[],
  need: number,
  draft: Draft,
  ask: (draft: Draft, signer: string) => Promise<CosignAnswer>,
  signal?: AbortSignal,
): Promise<Gathered<Draft>> {
  const signatures = new Map<string, string>()
  const failures: string[] = []
  let queue = [...candidates]
  while (signatures.size < need && queue.length > 0 && !signal?.aborted) {
    const batch = queue.slice(0, need - signatures.size)
    queue = queue.slice(batch.length)
    await Promise.all(
      batch.map(async (signer) => {
        const answer = await ask(draft, signer)
        if (answer.ok) signatures.set(signer, answer.signature)
        else failures.push(answer.why)
      }),
    )
  }
  return signatures.size < need ? { failures } : { draft, signatures }
}
