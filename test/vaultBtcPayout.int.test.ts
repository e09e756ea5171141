import { secp256k1 } from '@noble/curves/secp256k1'
import { payments, script as bscript } from 'bitcoinjs-lib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REGTEST } from '../adapters/bitcoin/header.js'
import { checkPayout } from '../adapters/bitcoin/payoutCheck.js'
import { BtcWallet } from '../adapters/bitcoin/wallet.js'
import { startBtcd, type Btcd } from '../devkit/chains/btcd.js'
import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { isQantaraError } from '../src/errors.js'
import { BTC_PROOF_GRACE_SECONDS, satsOwed, type OrderTerms } from '../src/order.js'
import { vaultBtcPayoutProblem } from '../src/vault/btcShare.js'

const CONFIRMATIONS = 6
let btcd: Btcd
let solver: BtcWallet
const scriptOf = () =>
  Uint8Array.from(
    payments.p2wpkh({ pubkey: secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true) }).output!,
  )
const providerScript = scriptOf()
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** A vault order on Solana whose provider is paid in BTC: 1 USDC (6 decimals) is 0.0001 BTC at this rate. */
function order(id: number, deadline: bigint): OrderTerms {
  return {
    id: `0x${id.toString(16).padStart(64, '0')}`,
    chain: 'solana:litesvm',
    renter: 'Renter1111111111111111111111111111111111111',
    token: 'USDCMint11111111111111111111111111111111111',
    amount: 10_000_000n,
    providerId: `0x${'11'.repeat(32)}`,
    payout: 'Provider111111111111111111111111111111111111',
    start: 1_000n,
    slotLength: 60,
    slots: 10,
    gpu: REFERENCE_ORDER_GPU,
    btc: {
      script: hex(providerScript),
      solver: 'Solver11111111111111111111111111111111111111',
      satsPerE18: 10n ** 16n,
      payoutDeadline: deadline,
      maxAmount: 10_000_000n,
      openBy: 900n,
      latestEnd: 2_000n,
    },
  }
}
const SHARE = 9_900_000n

/** The solver pays `outputs` tagged `tags` (the wallet adds the first; more ride as extra OP_RETURN outputs), mined `depth` deep. */
async function pay(outputs: { script: Uint8Array; value: bigint }[], tags: string[], depth = CONFIRMATIONS) {
  const extra = tags.slice(1).map((t) => ({
    script: Uint8Array.from(bscript.compile([bscript.OPS.OP_RETURN, Buffer.from(t.slice(2), 'hex')])),
    value: 0n,
  }))
  const payment = solver.pay({
    outputs: [...outputs, ...extra],
    tag: Buffer.from(tags[0]!.slice(2), 'hex'),
    utxos: await btcd.rpc.listUnspent(solver.address),
    feeRate: 2,
  })
  await btcd.rpc.sendRawTransaction(payment.hex)
  const [block] = await btcd.rpc.mine(1)
  await btcd.rpc.mine(depth - 1)
  return { txid: payment.txid, block: block! }
}

const check = (p: { txid: string; block: string }) =>
  checkPayout(btcd.rpc, REGTEST, p.txid, p.block, CONFIRMATIONS)

beforeAll(async () => {
  solver = BtcWallet.fromKeyText(BtcWallet.generateWif('regtest'), 'regtest')
  btcd = await startBtcd({ miningAddress: solver.address })
  // Segwit activates on regtest after three 144-block windows; coinbases mature after 100.
  await btcd.rpc.mine(440)
}, 600_000)
afterAll(() => btcd?.stop())

describe("a vault order's BTC payout, as each relayer proves it from its own btcd", () => {
  it('repays the solver against a real payout of the owed sats to the provider, tagged for the order alone', async () => {
    const terms = order(1, 4_000_000_000n)
    const owed = satsOwed(terms.btc!, SHARE)
    expect(owed).toBe(99_000n)
    const payout = await check(await pay([{ script: providerScript, value: owed }], [terms.id]))
    expect(payout.tags).toEqual([terms.id])
    expect(payout.outputs.find((o) => o.script === hex(providerScript))!.sats).toBe(owed)
    const now = BigInt(Math.floor(Date.now() / 1000))
    expect(vaultBtcPayoutProblem(terms, SHARE, payout, now)).toBeUndefined()
  })

  it('refuses a payout one sat short, to another script, for another order, tagged for two orders, or too shallow', async () => {
    const a = order(2, 4_000_000_000n)
    const b = order(3, 4_000_000_000n)
    const owed = satsOwed(a.btc!, SHARE)
    const now = BigInt(Math.floor(Date.now() / 1000))
    const short = await check(await pay([{ script: providerScript, value: owed - 1n }], [a.id]))
    expect(vaultBtcPayoutProblem(a, SHARE, short, now)).toBe('UNDERPAID')
    const elsewhere = await check(await pay([{ script: scriptOf(), value: owed }], [a.id]))
    expect(vaultBtcPayoutProblem(a, SHARE, elsewhere, now)).toBe('UNDERPAID')
    // One payout shown for a second order: its tag names the first, so it repays nothing there.
    const good = await check(await pay([{ script: providerScript, value: owed }], [a.id]))
    expect(vaultBtcPayoutProblem(a, SHARE, good, now)).toBeUndefined()
    expect(vaultBtcPayoutProblem(b, SHARE, good, now)).toBe('NOT_TAGGED_FOR_ORDER')
    // One transaction paying twice the sats, tagged for both orders, repays neither.
    const both = await check(await pay([{ script: providerScript, value: 2n * owed }], [a.id, b.id]))
    expect([...both.tags].sort()).toEqual([a.id, b.id].sort())
    expect(vaultBtcPayoutProblem(a, SHARE, both, now)).toBe('MORE_THAN_ONE_TAG')
    expect(vaultBtcPayoutProblem(b, SHARE, both, now)).toBe('MORE_THAN_ONE_TAG')
    const shallow = await pay([{ script: providerScript, value: owed }], [a.id], CONFIRMATIONS - 1)
    const refused = await check(shallow).catch((err: unknown) => err)
    expect(isQantaraError(refused, 'RPC_BAD_RESPONSE') && refused.retryable).toBe(true)
  })

  it('refuses a payout mined after the deadline, one shown after the proof window, and a payout that does not exist', async () => {
    const tip = await btcd.rpc.getBlockCount()
    const tipTime = BigInt(
      Buffer.from(await btcd.rpc.getBlockHeaderHex(await btcd.rpc.getBlockHash(tip)), 'hex').readUInt32LE(68),
    )
    const late = order(4, tipTime - 1n)
    const owed = satsOwed(late.btc!, SHARE)
    const payout = await check(await pay([{ script: providerScript, value: owed }], [late.id]))
    expect(vaultBtcPayoutProblem(late, SHARE, payout, tipTime)).toBe('PAID_AFTER_DEADLINE')
    const onTime = order(5, 4_000_000_000n)
    const inTime = await check(await pay([{ script: providerScript, value: owed }], [onTime.id]))
    const windowEnd = onTime.btc!.payoutDeadline + BTC_PROOF_GRACE_SECONDS
    expect(vaultBtcPayoutProblem(onTime, SHARE, inTime, windowEnd)).toBeUndefined()
    expect(vaultBtcPayoutProblem(onTime, SHARE, inTime, windowEnd + 1n)).toBe('PROOF_WINDOW_CLOSED')
    // What a byzantine relayer attests to: a txid its peers' own nodes have never seen.
    const made = await check({ txid: 'ab'.repeat(32), block: await btcd.rpc.getBlockHash(tip) }).catch(
      (err: unknown) => err,
    )
    expect(made).toBeInstanceOf(Error)
  })
})
