import {
  SETTLEMENT_LEG,
  decodeLeg,
  encodeLeg,
  legKey,
  legPayments,
  type ReleaseLeg,
} from '../src/vault/releaseLeg.js'
import { describe, expect, it } from 'vitest'
import type { ChainEvent, Cosigner, SettlementSignature } from '../src/chains.js'
import { QantaraError, isQantaraError } from '../src/errors.js'
import type { Hex32, OrderTerms } from '../src/order.js'
import type { Settlement } from '../src/settlement.js'
import type { OrderRecord } from '../src/orders/record.js'
import type { Submission } from '../src/store/store.js'
import {
  askCosigner,
  combinations,
  cosignerOrder,
  gatherByFill,
  gatherBySets,
  noCosigners,
  type CosignAnswer,
} from '../src/vault/cosigners.js'
import { VaultRelease } from '../src/vault/release.js'
import type { LostPolicy, ReleaseFate, ReleaseRound, VaultReleaseFamily } from '../src/vault/releaseFamily.js'
import {
  RELEASE_MEMO_PREFIX,
  decodeBtcShareMemo,
  decodeReleaseMemo,
  encodeBtcShareMemo,
  encodeReleaseMemo,
} from '../src/vault/releaseMemo.js'

const ORDER_ID: Hex32 = `0x${'ab'.repeat(32)}`

describe('the release memo', () => {
  it("names the order it released as qrel1: and the id's hex, and reads back only that", () => {
    expect(RELEASE_MEMO_PREFIX).toBe('qrel1:')
    expect(encodeReleaseMemo(ORDER_ID)).toBe(`qrel1:${'ab'.repeat(32)}`)
    expect(decodeReleaseMemo(encodeReleaseMemo(ORDER_ID))).toBe(ORDER_ID)
  })

  it('refuses anything but the exact form: upper case, short, long, another version, an order memo', () => {
    for (const text of [
      `qrel1:${'AB'.repeat(32)}`,
      `qrel1:${'ab'.repeat(31)}`,
      `qrel1:${'ab'.repeat(33)}`,
      `qrel2:${'ab'.repeat(32)}`,
      `qv1:${'ab'.repeat(32)}`,
      ` qrel1:${'ab'.repeat(32)}`,
      '',
    ]) {
      expect(decodeReleaseMemo(text)).toBeUndefined()
    }
  })

  it("names a BTC-owed share's release qbtc1: with the payout that repaid the solver, or the fallback, and reads back only that", () => {
    const txid = 'cd'.repeat(32)
    expect(encodeBtcShareMemo(ORDER_ID, txid)).toBe(`qbtc1:${'ab'.repeat(32)}:${txid}`)
    expect(decodeBtcShareMemo(encodeBtcShareMemo(ORDER_ID, txid))).toEqual({
      orderId: ORDER_ID,
      btcTxid: txid,
    })
    expect(decodeBtcShareMemo(encodeBtcShareMemo(ORDER_ID, undefined))).toEqual({ orderId: ORDER_ID })
    for (const text of [
      `qbtc1:${'ab'.repeat(32)}:${'CD'.repeat(32)}`,
      `qbtc1:${'ab'.repeat(32)}:${'cd'.repeat(31)}`,
      `qbtc1:${'ab'.repeat(32)}`,
      `qbtc1:${'ab'.repeat(32)}:fallback:x`,
      `qrel1:${'ab'.repeat(32)}`,
    ])
      expect(decodeBtcShareMemo(text)).toBeUndefined()
    expect(decodeReleaseMemo(encodeBtcShareMemo(ORDER_ID, txid))).toBeUndefined()
  })
})

describe('release legs', () => {
  const order = {
    id: ORDER_ID,
    renter: 'renter',
    payout: 'provider',
    amount: 1_000n,
    btc: { solver: 'solver', satsPerE18: 10n ** 18n },
  } as unknown as OrderTerms
  const settlement = { toProvider: 693n, toRenter: 300n, fee: 7n, feeRecipient: 'fees' } as Settlement

  it('pays the renter and fee at settlement, and the provider share once, to the solver or to the provider', () => {
    expect(legPayments(order, settlement, SETTLEMENT_LEG)).toEqual([
      { to: 'provider', amount: 0n },
      { to: 'fees', amount: 7n },
      { to: 'renter', amount: 300n },
    ])
    const solver: ReleaseLeg = { kind: 'btc-solver', btcTxid: 'ab'.repeat(32), btcBlock: 'cd'.repeat(32) }
    expect(legPayments(order, settlement, solver)).toEqual([{ to: 'solver', amount: 693n }])
    expect(legPayments(order, settlement, { kind: 'btc-fallback' })).toEqual([
      { to: 'provider', amount: 693n },
    ])
    expect(legKey(ORDER_ID, solver)).toBe(legKey(ORDER_ID, { kind: 'btc-fallback' }))
    expect(legKey(ORDER_ID, SETTLEMENT_LEG)).toBe(`release:${ORDER_ID}`)
    // Below the dust limit nothing is owed in BTC: the settlement pays the provider.
    const dust = { ...settlement, toProvider: 545n }
    expect(legPayments(order, dust, SETTLEMENT_LEG)[0]).toEqual({ to: 'provider', amount: 545n })
    for (const leg of [SETTLEMENT_LEG, solver, { kind: 'btc-fallback' } as const])
      expect(decodeLeg(encodeLeg(leg))).toEqual(leg)
  })
})

describe('co-signer order', () => {
  it('asks the members that attested first, then the others, never itself or an address outside the multisig', () => {
    expect(cosignerOrder('a', ['c', 'a', 'x', 'c'], ['a', 'b', 'c', 'd'])).toEqual(['c', 'b', 'd'])
    expect(cosignerOrder('a', [], ['a', 'b', 'c'])).toEqual(['b', 'c'])
  })

  it('tries each set of k co-signers in order, lazily', () => {
    expect([...combinations(['b', 'c', 'd'], 2)]).toEqual([
      ['b', 'c'],
      ['b', 'd'],
      ['c', 'd'],
    ])
    expect([...combinations(['b', 'c'], 0)]).toEqual([[]])
    expect([...combinations(['b'], 2)]).toEqual([])
  })
})

describe('failure aggregation', () => {
  it('gives one retryable SUBMIT_FAILED with every distinct reason, in order, the round named where there is one', () => {
    const err = noCosigners(
      ORDER_ID,
      1,
      ['relayer-2: down', 'relayer-3: down', 'relayer-2: down'],
      'at sequence 7',
    )
    expect([err.code, err.retryable, err.details, err.shortMessage]).toEqual([
      'SUBMIT_FAILED',
      true,
      undefined,
      `no 1 co-signers for the release of ${ORDER_ID} at sequence 7: relayer-2: down; relayer-3: down`,
    ])
    expect(noCosigners(ORDER_ID, 2, []).shortMessage).toBe(`no 2 co-signers for the release of ${ORDER_ID}: `)
    expect(noCosigners(ORDER_ID, 1, ['x'.repeat(600)]).shortMessage).toHaveLength(
      `no 1 co-signers for the release of ${ORDER_ID}: `.length + 500,
    )
  })

  it('turns a co-signer that is unknown, throws or answers a bad signature into a reason, never a throw', async () => {
    const panel = (cosign: Cosigner) => ({
      cosign,
      memberOf: new Map([['addr-b', 'relayer-2']]),
      addressKind: 'Test',
    })
    const answering = (signer: string, signature: string) =>
      panel(() => Promise.resolve({ signer, signature }))
    const ask = (p: ReturnType<typeof panel>, signer = 'addr-b') =>
      askCosigner(p, ORDER_ID, signer, 'msg', SETTLEMENT_LEG, (s) => s === 'good')
    expect(await ask(answering('addr-b', 'good'))).toEqual({ ok: true, signature: 'good' })
    expect(await ask(answering('addr-b', 'good'), 'addr-z')).toEqual({
      ok: false,
      why: 'no quorum member has Test address addr-z',
    })
    expect(await ask(answering('addr-b', 'bad'))).toEqual({
      ok: false,
      why: 'relayer-2 answered with a signature that does not verify',
    })
    expect(await ask(answering('addr-c', 'good'))).toEqual({
      ok: false,
      why: 'relayer-2 answered with a signature that does not verify',
    })
    expect(await ask(panel(() => Promise.reject(new Error('refused'))))).toEqual({
      ok: false,
      why: 'relayer-2: refused',
    })
  })
})

describe('gathering co-signatures', () => {
  const answers =
    (down: string[]) =>
    (draft: string, signer: string): Promise<CosignAnswer> =>
      Promise.resolve(
        down.includes(signer)
          ? { ok: false, why: `${signer} is down` }
          : { ok: true, signature: `${signer} signs ${draft}` },
      )

  it('replaces a whole set where one fails when the message names its signers', async () => {
    const drafts: string[][] = []
    const draftFor = (cosigners: string[]) => {
      drafts.push(cosigners)
      return Promise.resolve(cosigners.join('+'))
    }
    const gathered = await gatherBySets(['b', 'c', 'd'], 2, draftFor, answers(['c']))
    expect(drafts).toEqual([
      ['b', 'c'],
      ['b', 'd'],
    ])
    expect(gathered).toEqual({
      draft: 'b+d',
      signatures: new Map([
        ['b', 'b signs b+d'],
        ['d', 'd signs b+d'],
      ]),
    })
    expect(await gatherBySets(['b', 'c'], 1, draftFor, answers(['b', 'c']))).toEqual({
      failures: ['b is down', 'c is down'],
    })
  })

  it('fills the missing signatures one by one over one message otherwise', async () => {
    const asked: string[] = []
    const ask = (draft: string, signer: string) => {
      asked.push(signer)
      return answers(['b'])(draft, signer)
    }
    expect(await gatherByFill(['b', 'c', 'd', 'e'], 2, 'doc', ask)).toEqual({
      draft: 'doc',
      signatures: new Map([
        ['c', 'c signs doc'],
        ['d', 'd signs doc'],
      ]),
    })
    expect(asked).toEqual(['b', 'c', 'd'])
    expect(await gatherByFill(['b'], 1, 'doc', ask)).toEqual({ failures: ['b is down'] })
  })

  it('stops asking once aborted', async () => {
    const aborted = AbortSignal.abort()
    expect(await gatherByFill(['b', 'c'], 1, 'doc', answers([]), aborted)).toEqual({ failures: [] })
    expect(
      await gatherBySets(['b', 'c'], 1, (s) => Promise.resolve(s.join()), answers(['b', 'c']), aborted),
    ).toEqual({ failures: ['b is down'] })
  })
})

/** The engine over an in-memory store and a scripted chain: what it stores, sends and answers, with no I/O. */
function fakeFamily(o: {
  fates: ReleaseFate[]
  lost: 'retry' | 'rebuild'
  released?: boolean
  refuse?: { code: number; log: string }
}) {
  const submissions = new Map<string, Submission>()
  const events: ChainEvent[] = []
  const orders = new Map<string, OrderRecord>()
  const sent: { payload: string; fresh: boolean }[] = []
  const puts: [string, unknown][] = []
  let built = 0
  const lost: LostPolicy<string> =
    o.lost === 'retry'
      ? {
          then: 'retry',
          error: (_id, p) => new QantaraError('SUBMIT_FAILED', `${p} did not land`, { retryable: true }),
        }
      : {
          then: 'rebuild',
          rounds: 2,
          rebuilding: () => undefined,
          exhausted: () => new QantaraError('SUBMIT_FAILED', 'exhausted', { retryable: true }),
        }
  const family: VaultReleaseFamily<ReleaseRound, { request: string }, string> = {
    chain: 'test:1',
    self: 'addr-a',
    store: {
      getSubmission: (_chain, key) => Promise.resolve(submissions.get(key)),
      putSubmission: (s) => {
        submissions.set(s.key, s)
        puts.push([s.state, s.payload])
        return Promise.resolve()
      },
      listOrderEvents: () => Promise.resolve(events),
      getOrder: (id) => Promise.resolve(orders.get(id)),
    },
    cosigners: {
      cosign: (_id, _order, message) => Promise.resolve({ signer: 'addr-b', signature: `b:${message}` }),
      memberOf: new Map([['addr-b', 'relayer-2']]),
      addressKind: 'Test',
    },
    signersInMessage: false,
    remembersRelease: true,
    onLost: lost,
    vault: {
      openRound: () =>
        Promise.resolve(o.released ? 'released' : { threshold: 2, signers: ['addr-a', 'addr-b'] }),
    },
    messages: {
      draft: () => Promise.resolve({ request: `release-${++built}` }),
      verify: (draft, _signer, signature) => signature === `b:${draft.request}`,
      sign: (draft) => Promise.resolve(`a:${draft.request}`),
      assemble: (draft, signatures) => `${draft.request}[${[...signatures.keys()].sort().join(',')}]`,
      rebuild: (_order, _settlement, request, refuse) =>
        request.startsWith('release-')
          ? Promise.resolve({ request })
          : Promise.reject(refuse('not a release')),
    },
    sender: {
      txHash: (payload) => `hash of ${payload}`,
      nonceOf: () => 7,
      broadcast: (_id, payload, fresh) => {
        sent.push({ payload, fresh })
        return Promise.resolve(fresh ? o.refuse : undefined)
      },
      follow: () => Promise.resolve(o.fates.shift() ?? { end: 'lost' }),
    },
  }
  return { engine: new VaultRelease(family), submissions, sent, puts, events, orders }
}

const order = { id: ORDER_ID } as OrderTerms
const settlement = {} as Settlement
const attested: SettlementSignature[] = [{ signer: 'addr-b', signature: '' }]
const outcomeOf = (p: Promise<unknown>) =>
  p.catch((err: unknown) => (isQantaraError(err) ? `${err.code}: ${err.shortMessage}` : String(err)))

describe('the release engine', () => {
  it('stores a release pending before it broadcasts it, then confirmed once it lands', async () => {
    const bed = fakeFamily({ fates: [{ end: 'landed' }], lost: 'retry' })
    expect(await bed.engine.submit(order, settlement, attested)).toEqual({
      status: 'submitted',
      txHash: 'hash of release-1[addr-a,addr-b]',
      confirmations: 1,
    })
    expect(bed.puts).toEqual([
      ['pending', 'release-1[addr-a,addr-b]'],
      ['confirmed', 'release-1[addr-a,addr-b]'],
    ])
    expect(bed.sent).toEqual([{ payload: 'release-1[addr-a,addr-b]', fresh: true }])
    expect(bed.submissions.get(`release:${ORDER_ID}`)).toMatchObject({
      chain: 'test:1',
      signer: 'addr-a',
      nonce: 7,
    })
    // Confirmed is the answer from then on, with nothing sent.
    expect(await bed.engine.submit(order, settlement, attested)).toMatchObject({ status: 'submitted' })
    expect(bed.sent).toHaveLength(1)
  })

  it('resumes a stored pending release by sending the same bytes again, never building a second one', async () => {
    const bed = fakeFamily({ fates: [{ end: 'landed' }], lost: 'retry' })
    bed.submissions.set(`release:${ORDER_ID}`, {
      chain: 'test:1',
      key: `release:${ORDER_ID}`,
      signer: 'addr-a',
      nonce: 7,
      state: 'pending',
      payload: 'stored',
      updatedAt: 0,
    })
    expect(await bed.engine.submit(order, settlement, attested)).toMatchObject({
      status: 'submitted',
      txHash: 'hash of stored',
    })
    expect(bed.sent).toEqual([{ payload: 'stored', fresh: false }])
  })

  it("records a node's refusal as failed and a failure on chain as SUBMIT_REVERTED, not retryable", async () => {
    const refused = fakeFamily({ fates: [], lost: 'retry', refuse: { code: 13, log: 'insufficient fee' } })
    expect(await outcomeOf(refused.engine.submit(order, settlement, attested))).toBe(
      `SUBMIT_FAILED: the node refused the release of ${ORDER_ID}: code 13 insufficient fee`,
    )
    expect(refused.puts.map(([state]) => state)).toEqual(['pending', 'failed'])
    const reverted = fakeFamily({
      fates: [{ end: 'failed', code: 5, log: 'insufficient funds' }],
      lost: 'retry',
    })
    const err = await reverted.engine.submit(order, settlement, attested).catch((e: unknown) => e)
    expect(
      isQantaraError(err, 'SUBMIT_REVERTED') && [err.retryable, err.context.revert, err.shortMessage],
    ).toEqual([false, 'code 5', `the release of ${ORDER_ID} failed on chain: code 5 insufficient funds`])
  })

  it("hands a lost release back to the relayer's retries, or rebuilds it at once and leaves the last build of a call pending", async () => {
    const retry = fakeFamily({ fates: [{ end: 'lost' }], lost: 'retry' })
    expect(await outcomeOf(retry.engine.submit(order, settlement, attested))).toBe(
      'SUBMIT_FAILED: release-1[addr-a,addr-b] did not land',
    )
    const rebuild = fakeFamily({ fates: [{ end: 'lost' }, { end: 'lost' }], lost: 'rebuild' })
    expect(await outcomeOf(rebuild.engine.submit(order, settlement, attested))).toBe(
      'SUBMIT_FAILED: exhausted',
    )
    expect(rebuild.puts.map(([state, payload]) => `${state} ${String(payload)}`)).toEqual([
      'pending release-1[addr-a,addr-b]',
      'failed release-1[addr-a,addr-b]',
      'pending release-2[addr-a,addr-b]',
    ])
  })

  it('remembers an order its round finds released, where the family says so', async () => {
    const bed = fakeFamily({ fates: [], lost: 'rebuild', released: true })
    expect(await bed.engine.submit(order, settlement, attested)).toEqual({ status: 'already-settled' })
    expect(bed.puts).toEqual([['already-settled', {}]])
    expect(bed.sent).toEqual([])
  })

  it('co-signs only a request its family rebuilds, and never an order its store holds released or closed', async () => {
    const bed = fakeFamily({ fates: [], lost: 'retry' })
    expect(await bed.engine.cosign(order, settlement, 'release-9')).toEqual({
      signer: 'addr-a',
      signature: 'a:release-9',
    })
    const refused = await bed.engine.cosign(order, settlement, 'other').catch((e: unknown) => e)
    expect(
      isQantaraError(refused, 'COSIGN_REFUSED') && [
        refused.context.reason,
        refused.retryable,
        refused.shortMessage,
      ],
    ).toEqual(['not a release', false, `release of ${ORDER_ID}: not a release`])
    bed.orders.set(ORDER_ID, { state: 'refunded' } as OrderRecord)
    expect(
      await bed.engine
        .cosign(order, settlement, 'release-9')
        .catch((e: unknown) => isQantaraError(e, 'COSIGN_REFUSED') && e.context.reason),
    ).toBe('ORDER_CLOSED')
    bed.events.push({ kind: 'VaultReleased', txHash: 'tx-1' } as ChainEvent)
    expect(
      await bed.engine
        .cosign(order, settlement, 'release-9')
        .catch((e: unknown) => isQantaraError(e, 'COSIGN_REFUSED') && e.context.reason),
    ).toBe('ALREADY_RELEASED')
  })
})
