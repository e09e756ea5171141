import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { keccak256, toHex, type Hex, type LocalAccount } from 'viem'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { testTokenAbi } from '../adapters/evm/contracts/artifacts/TestToken.js'
import { EvmSubmitter } from '../adapters/evm/submitter.js'
import { RpcPool } from '../adapters/evm/rpcPool.js'
import { viemChain } from '../adapters/evm/chain.js'
import { signSettlement, compareAddresses, isEscrowSignatureForm } from '../adapters/evm/eip712.js'
import { toEvmSettlement, type EvmOrder } from '../adapters/evm/codec.js'
import type { OrderTerms } from '../src/order.js'
import type { Settlement } from '../src/settlement.js'
import { isQantaraError } from '../src/errors.js'
import { silentLogger } from '../src/log.js'
import { SqliteStore } from '../src/store/sqlite.js'
import {
  deployMarket,
  fund,
  openOrder,
  relayerKeys,
  startEvmTestbed,
  type Deployment,
  type EvmTestbed,
} from '../devkit/evmTestbed.js'
import { tempDir } from './support/tmp.js'
import { waitFor } from '../devkit/waitFor.js'

const CHAIN = 'eip155:31337' as const
const logger = silentLogger()
const tmp = tempDir()
const gwei = (n: number) => BigInt(n) * 10n ** 9n
let bed: EvmTestbed
let d: Deployment
let relayers: LocalAccount[]

beforeAll(async () => {
  bed = await startEvmTestbed()
  relayers = relayerKeys(3)
  d = await deployMarket(bed, relayers, 2)
  await fund(bed, d, 1, 10n ** 12n)
})
afterAll(async () => {
  await bed?.stop()
  tmp.cleanup()
})

function submitterOptions(
  store: SqliteStore,
  o: { account?: LocalAccount; bumpAfterMs?: number; maxFee?: bigint; confirmations?: number } = {},
) {
  const pool = new RpcPool({
    chain: viemChain(CHAIN, [bed.anvil.rpcUrl]),
    urls: [bed.anvil.rpcUrl],
    timeoutMs: 5_000,
    logger,
  })
  return {
    chain: CHAIN,
    pool,
    escrow: d.escrow,
    account: o.account ?? bed.account(5),
    store,
    logger,
    pollMs: 25,
    receiptConfirmations: o.confirmations ?? 1,
    bumpAfterMs: o.bumpAfterMs ?? 60_000,
    caps: { maxFeePerGas: o.maxFee ?? gwei(500), maxPriorityFeePerGas: gwei(5) },
  }
}

function submitter(store: SqliteStore, o: Parameters<typeof submitterOptions>[1] = {}) {
  return new EvmSubmitter(submitterOptions(store, o))
}

interface Case {
  order: OrderTerms
  evmOrder: EvmOrder
  settlement: Settlement
  signatures: Hex[]
}

async function settledCase(signers = relayers.slice(0, 2)): Promise<Case> {
  const { orderId, order: evmOrder } = await openOrder(bed, d, 1, { amount: 1_000_000n })
  const order: OrderTerms = {
    id: orderId,
    chain: CHAIN,
    renter: evmOrder.renter,
    token: evmOrder.token,
    amount: evmOrder.amount,
    providerId: evmOrder.providerId,
    payout: evmOrder.payout,
    start: evmOrder.start,
    slotLength: evmOrder.slotLength,
    slots: evmOrder.slots,
    gpu: REFERENCE_ORDER_GPU,
  }
  const settlement: Settlement = {
    orderId,
    toProvider: 600_000n,
    toRenter: 399_000n,
    fee: 1_000n,
    feeRecipient: bed.account(9).address,
    upSlots: 6,
    totalSlots: 10,
    heartbeatRoot: keccak256(toHex('hb')),
  }
  const signed = await Promise.all(
    signers.map(async (a) => ({
      a: a.address,
      s: await signSettlement(a, d.domain, toEvmSettlement(settlement)),
    })),
  )
  return {
    order,
    evmOrder,
    settlement,
    signatures: signed.sort((x, y) => compareAddresses(x.a, y.a)).map((x) => x.s),
  }
}

const orderState = (id: Hex) =>
  bed.publicClient.readContract({
    address: d.escrow,
    abi: qantaraEscrowAbi,
    functionName: 'orderState',
    args: [id],
  })
const SETTLED = toHex(1, { size: 32 })

async function poolPending(): Promise<number> {
  const res = await fetch(bed.anvil.rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'txpool_status', params: [] }),
  })
  const { result } = (await res.json()) as { result: { pending: string } }
  return Number(result.pending)
}

describe('EvmSubmitter', () => {
  it('pays the signed split once; a repeat sends nothing and another relayer sees it as already settled', async () => {
    const store = new SqliteStore(':memory:')
    const c = await settledCase()
    const before = await bed.publicClient.readContract({
      address: d.token,
      abi: testTokenAbi,
      functionName: 'balanceOf',
      args: [c.evmOrder.payout],
    })
    const first = await submitter(store).submit(c.order, c.settlement, { signatures: c.signatures })
    expect(first.status).toBe('submitted')
    expect(await orderState(c.order.id)).toBe(SETTLED)
    expect(
      await bed.publicClient.readContract({
        address: d.token,
        abi: testTokenAbi,
        functionName: 'balanceOf',
        args: [c.evmOrder.payout],
      }),
    ).toBe(before + 600_000n)

    const nonceBefore = await bed.publicClient.getTransactionCount({ address: bed.account(5).address })
    expect(await submitter(store).submit(c.order, c.settlement, { signatures: c.signatures })).toEqual(first)
    expect(await bed.publicClient.getTransactionCount({ address: bed.account(5).address })).toBe(nonceBefore)

    const other = new SqliteStore(':memory:')
    expect(
      await submitter(other, { account: bed.account(6) }).submit(c.order, c.settlement, {
        signatures: c.signatures,
      }),
    ).toEqual({ status: 'already-settled' })
    expect(await bed.publicClient.getTransactionCount({ address: bed.account(6).address })).toBe(0)
    await store.close()
    await other.close()
  })

  it('refuses a settlement the escrow would revert, naming the custom error, and records nothing pending', async () => {
    const store = new SqliteStore(':memory:')
    const c = await settledCase(relayers.slice(0, 1))
    const err = await submitter(store)
      .submit(c.order, c.settlement, { signatures: c.signatures })
      .catch((e: unknown) => e)
    expect(isQantaraError(err, 'SUBMIT_REVERTED')).toBe(true)
    expect(isQantaraError(err, 'SUBMIT_REVERTED') && err.context.revert).toBe('NotEnoughSignatures')
    // Retried: a set that rotated since the signatures were picked is the usual cause.
    expect((err as { retryable: boolean }).retryable).toBe(true)
    expect(await store.pendingSubmissions(CHAIN, bed.account(5).address)).toEqual([])
    await store.close()
  })

  it('blames one malleated signature of a set by its bytes (SIGNATURE_REFUSED, retryable), so the relayer can settle without it', async () => {
    const store = new SqliteStore(':memory:')
    const c = await settledCase()
    const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    const honest = c.signatures[1]!
    const v = Number.parseInt(honest.slice(130), 16)
    const highS =
      `${honest.slice(0, 66)}${(N - BigInt(`0x${honest.slice(66, 130)}`)).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}` as Hex
    expect(isEscrowSignatureForm(honest)).toBe(true)
    expect(isEscrowSignatureForm(highS)).toBe(false)
    const err = await submitter(store)
      .submit(c.order, c.settlement, { signatures: [c.signatures[0]!, highS] })
      .catch((e: unknown) => e)
    expect(err).toMatchObject({
      code: 'SIGNATURE_REFUSED',
      retryable: true,
      context: { revert: 'HighS', signature: highS },
    })
    expect(await store.pendingSubmissions(CHAIN, bed.account(5).address)).toEqual([])
    expect(await orderState(c.order.id)).not.toBe(SETTLED)
    // The honest pair alone settles.
    expect((await submitter(store).submit(c.order, c.settlement, { signatures: c.signatures })).status).toBe(
      'submitted',
    )
    await store.close()
  })

  it('does not send a settlement whose gas is above the cap (a token that burns gas): GasAboveCap, final, nothing sent', async () => {
    const store = new SqliteStore(':memory:')
    const c = await settledCase()
    const account = bed.account(6)
    const sent = await bed.publicClient.getTransactionCount({ address: account.address })
    const capped = new EvmSubmitter({ ...submitterOptions(store, { account }), maxSettlementGas: 60_000n })
    const err = await capped
      .submit(c.order, c.settlement, { signatures: c.signatures })
      .catch((e: unknown) => e)
    expect(err).toMatchObject({
      code: 'SUBMIT_REVERTED',
      context: { revert: 'GasAboveCap' },
      retryable: false,
    })
    expect(await bed.publicClient.getTransactionCount({ address: account.address })).toBe(sent)
    expect(await orderState(c.order.id)).not.toBe(SETTLED)
    await store.close()
  })

  it('never resends a settlement that was mined and reverted: a token that is cheap under eth_estimateGas and burns all gas when mined', async () => {
    const store = new SqliteStore(':memory:')
    const c = await settledCase()
    const account = bed.account(7)
    const code = await bed.publicClient.getCode({ address: d.token })
    await bed.testClient.setAutomine(false)
    let outcome: unknown
    try {
      const running = submitter(store, { account })
        .submit(c.order, c.settlement, { signatures: c.signatures })
        .catch((e: unknown) => e)
      await waitFor(
        async () => (await poolPending()) === 1 || undefined,
        'the settlement in the pool',
        20_000,
        25,
      )
      // The flip after the estimate: every call into the token now ends in INVALID, which takes all the gas it is given.
      await bed.testClient.setCode({ address: d.token, bytecode: '0xfe' })
      await bed.testClient.mine({ blocks: 1 })
      outcome = await running
    } finally {
      await bed.testClient.setCode({ address: d.token, bytecode: code! })
      await bed.testClient.setAutomine(true)
    }
    expect(outcome).toMatchObject({
      code: 'SUBMIT_REVERTED',
      context: { revert: 'MinedRevert' },
      retryable: false,
    })
    const sent = await bed.publicClient.getTransactionCount({ address: account.address })
    // Asked again (a restart, another tick), it sends nothing: the same revert would burn the gas again.
    expect(
      await submitter(store, { account })
        .submit(c.order, c.settlement, { signatures: c.signatures })
        .catch((e: unknown) => e),
    ).toMatchObject({ context: { revert: 'MinedRevert' } })
    expect(await bed.publicClient.getTransactionCount({ address: account.address })).toBe(sent)
    expect(await orderState(c.order.id)).not.toBe(SETTLED)
    await store.close()
  })

  it('bumps the fees of a stuck settlement, never past the cap, and the replacement lands', async () => {
    const store = new SqliteStore(':memory:')
    const c = await settledCase()
    const cap = gwei(40)
    await bed.testClient.setAutomine(false)
    try {
      const running = submitter(store, { bumpAfterMs: 100, maxFee: cap, account: bed.account(7) }).submit(
        c.order,
        c.settlement,
        { signatures: c.signatures },
      )
      const attempts = await waitFor(
        async () => {
          const s = await store.getSubmission(CHAIN, `settle:${c.order.id}`)
          const a = (
            s?.payload as
              { attempts: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint; hash: Hex }[] } | undefined
          )?.attempts
          return a && a.length >= 4 ? a : undefined
        },
        'four fee levels',
        20_000,
        25,
      )
      for (let i = 1; i < attempts.length; i++) {
        expect(attempts[i]!.maxFeePerGas * 100n).toBeGreaterThanOrEqual(attempts[i - 1]!.maxFeePerGas * 110n)
        expect(attempts[i]!.maxFeePerGas).toBeLessThanOrEqual(cap)
      }
      await bed.testClient.mine({ blocks: 1 })
      const outcome = await running
      expect(outcome.status).toBe('submitted')
      const mined =
        outcome.status === 'submitted'
          ? await bed.publicClient.getTransaction({ hash: outcome.txHash as Hex })
          : undefined
      expect(mined!.maxFeePerGas).toBeGreaterThan(attempts[0]!.maxFeePerGas)
      expect(await orderState(c.order.id)).toBe(SETTLED)
    } finally {
      await bed.testClient.setAutomine(true)
    }
    await store.close()
  })

  it('resumes after a crash: the pending nonce is reused, never doubled, and the next order takes the next nonce', async () => {
    const path = join(tmp.dir, 'crash.sqlite')
    const account = bed.account(4)
    const [a, b] = [await settledCase(), await settledCase()]
    await bed.testClient.setAutomine(false)
    let store = new SqliteStore(path)
    try {
      const crashed = new AbortController()
      const lost = submitter(store, { account })
        .submit(a.order, a.settlement, { signatures: a.signatures }, crashed.signal)
        .catch((e: unknown) => e)
      const pending = await waitFor(
        async () => (await store.pendingSubmissions(CHAIN, account.address))[0],
        'a pending submission',
        20_000,
        25,
      )
      crashed.abort()
      expect(isQantaraError(await lost, 'ABORTED')).toBe(true)
      await store.close()
      // The node forgets the transaction too, as if the crash came before the broadcast reached it.
      await bed.testClient.request({ method: 'anvil_dropAllTransactions' } as never)

      store = new SqliteStore(path)
      const restarted = submitter(store, { account, confirmations: 2 })
      const resumedA = restarted.submit(a.order, a.settlement, { signatures: a.signatures })
      const startedB = restarted.submit(b.order, b.settlement, { signatures: b.signatures })
      const nonces = await waitFor(
        async () => {
          const p = await store.pendingSubmissions(CHAIN, account.address)
          return p.length === 2 ? p.map((s) => s.nonce) : undefined
        },
        'both submissions pending',
        20_000,
        25,
      )
      expect(nonces).toEqual([pending.nonce, pending.nonce + 1])
      await waitFor(
        async () => (await poolPending()) === 2 || undefined,
        'both transactions in the pool',
        20_000,
        25,
      )
      await bed.testClient.mine({ blocks: 2 })
      await bed.testClient.setAutomine(true)
      expect((await resumedA).status).toBe('submitted')
      expect((await startedB).status).toBe('submitted')
      expect(await orderState(a.order.id)).toBe(SETTLED)
      expect(await orderState(b.order.id)).toBe(SETTLED)
      expect(await bed.publicClient.getTransactionCount({ address: account.address })).toBe(pending.nonce + 2)
    } finally {
      await bed.testClient.setAutomine(true)
      await store.close()
    }
  })
})
