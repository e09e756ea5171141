import { serializeSignDoc, type StdFee } from '@cosmjs/amino'
import { fromBase64, toBase64 } from '@cosmjs/encoding'
import { BroadcastTxError, GasPrice, StargateClient, calculateFee } from '@cosmjs/stargate'
import type { CometClient } from '@cosmjs/tendermint-rpc'
import { sha256 } from '@noble/hashes/sha2'
import PQueue from 'p-queue'
import { z } from 'zod'
import { abortableDelay } from '../../src/abort.js'
import type { ChainId } from '../../src/caip2.js'
import type { VaultChainRuntime, Cosigner, SettlementSignature, SubmitOutcome } from '../../src/chains.js'
import { QantaraError } from '../../src/errors.js'
import type { Logger } from '../../src/log.js'
import type { OrderTerms } from '../../src/order.js'
import type { Settlement } from '../../src/settlement.js'
import { settlementHash } from '../../src/settlementWire.js'
import type { Store } from '../../src/store/store.js'
import { assertReleaseOpen } from '../../src/vault/assertReleaseOpen.js'
import { isRefundOrder } from '../../src/vault/refund.js'
import { prefixOf, vaultMultisig, type CosmosChainConfig } from './config.js'
import { cosmosAddress, cosmosVerify, type CosmosKey } from './keys.js'
import { assembleRelease, releaseSignDoc, signRelease, verifyReleaseSignature, type CosmosRelease, type CosmosVaultState } from './release.js'
import { cometClient } from './rpc.js'
import { CosmosVaultWatcher } from './watcher.js'

/** How long a sent release may stay unseen before it is broadcast again. */
const RESEND_MS = 6_000
/** Releases built in a row that each lost the vault's sequence to another transaction before this call gives up (the relayer retries later). */
const MAX_ROUNDS = 4
/** A co-signing request is a small JSON document; nothing longer is one. */
const MAX_REQUEST_CHARS = 1_024
/** How long a submitter waits for its own watcher to read the vault's last transaction before it gives the order back to the relayer's retries. */
const CATCH_UP_MS = 30_000
/** CheckTx code of x/auth's "account sequence mismatch". */
const WRONG_SEQUENCE = 32

const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex')
const txHashOf = (tx: Uint8Array) => hexOf(sha256(tx)).toUpperCase()

/** What a co-signer is asked to sign: the vault's account and sequence, the release's lifetime and fee, and the hash of the document the submitter built. */
const cosignRequest = z.strictObject({
  v: z.literal(1),
  accountNumber: z.number().int().nonnegative(),
  sequence: z.number().int().nonnegative(),
  timeoutHeight: z.string().regex(/^\d{1,19}$/),
  fee: z.strictObject({ amount: z.array(z.strictObject({ denom: z.string().max(128), amount: z.string().regex(/^\d{1,40}$/) })).max(4), gas: z.string().regex(/^\d{1,19}$/) }),
  doc: z.string().regex(/^[0-9a-f]{64}$/),
})

/** A signed release as stored before it is broadcast: after a crash the same bytes go out again. */
interface Payload { tx: string; hash: string; sequence: number; timeoutHeight: string }
/** Where a sent release ended: on chain, never to land (rebuilt), or run and failed on chain (its fee and sequence spent). */
type Fate = { end: 'landed' } | { end: 'lost' } | { end: 'failed'; code: number; log: string }

export interface CosmosRuntimeOptions {
  config: CosmosChainConfig
  key: CosmosKey
  /** Quorum member id → its Cosmos public key (base64). */
  members: ReadonlyMap<string, string>
  store: Store
  logger: Logger
  cosign: Cosigner
  /** How often a sent release's fate is read. */
  pollMs?: number
}

/**
 * One Cosmos vault chain: the vault watcher, settlement attestations under
 * the relayer's secp256k1 key, and releases signed by a threshold of the
 * vault's multisig in amino-JSON.
 *
 * The vault has one account sequence, and a signed transaction can only land
 * at the sequence it was signed for. So every member, before it signs an
 * order's release at sequence s, requires s to be the vault's sequence now
 * and its own watcher to have read the vault's transaction at s − 1: every
 * release that could have landed before is then in its store, and if one of
 * them paid this order it refuses. Two releases of one order can never both
 * land, whoever builds them. A release that loses its sequence to another
 * transaction, or outlives its timeout height, is rebuilt at the next one.
 */
export function cosmosRuntime(o: CosmosRuntimeOptions): VaultChainRuntime {
  const c = o.config
  const chain = c.id as ChainId
  const chainId = c.id.slice('cosmos:'.length)
  const prefix = prefixOf(c.vault)
  const multisig = vaultMultisig(c)
  const fee = releaseFee(c)
  const log = o.logger.child({ module: 'cosmos-runtime', chain })
  const signerKeys = new Map(c.multisig.pubkeys.map((k) => [cosmosAddress(fromBase64(k), prefix), fromBase64(k)]))
  const memberOf = new Map([...o.members].map(([id, k]) => [cosmosAddress(fromBase64(k), prefix), id]))
  // One release in flight per relayer: its own releases would otherwise race each other for the vault's sequence.
  const serial = new PQueue({ concurrency: 1 })

  let comet: Promise<CometClient> | undefined
  let stargate: { over: CometClient; client: StargateClient } | undefined
  const node = () => (comet ??= cometClient({ url: c.rpc[0]!, timeoutMs: c.rpcTimeoutMs }).catch((err: unknown) => {
    comet = undefined
    throw err
  }))
  const client = async () => {
    const over = await node()
    if (stargate?.over !== over) stargate = { over, client: StargateClient.create(over) }
    return stargate.client
  }
  const height = async () => (await client()).getHeight()
  async function account(): Promise<{ accountNumber: number; sequence: number }> {
    const a = await (await client()).getAccount(c.vault)
    if (!a) throw new QantaraError('SUBMIT_FAILED', `vault ${c.vault} has no account on ${chain}: nothing was ever paid into it`, { retryable: true })
    return { accountNumber: a.accountNumber, sequence: a.sequence }
  }
  /** The transaction that took the vault's sequence `s`, from the node's index of x/auth's `tx.acc_seq`. */
  async function tookSequence(s: number): Promise<{ hash: string; height: number } | undefined> {
    const t = (await (await node()).txSearch({ query: `tx.acc_seq='${c.vault}/${s}'`, per_page: 1 })).txs[0]
    return t && { hash: hexOf(t.hash).toUpperCase(), height: t.height }
  }
  /** Whether the order was released by a transaction before sequence `s`; 'behind' while this relayer cannot tell yet. */
  async function releasedBefore(orderId: OrderTerms['id'], s: number): Promise<'released' | 'open' | 'behind'> {
    if (s > 0) {
      const last = await tookSequence(s - 1)
      const read = await o.store.getCheckpoint(chain)
      if (!last || !read || read.height < BigInt(last.height)) return 'behind'
    }
    return (await o.store.listOrderEvents(chain, orderId)).some((e) => e.kind === 'VaultReleased') ? 'released' : 'open'
  }

  /**
   * The release fee a refund pays out of itself: all of it when the refund is in the fee's denom and larger
   * than the fee, so the fee reserve pays for nobody's stray deposit (security review 2026-12, section 10).
   * Refunds in other denoms are kept above the dust line by `minRefund` instead.
   */
  const refundPaysFee = (order: OrderTerms, s: Settlement): bigint => {
    const own = fee.amount.length === 1 && fee.amount[0]!.denom === order.token ? BigInt(fee.amount[0]!.amount) : 0n
    return isRefundOrder(order) && s.toProvider === 0n && s.fee === 0n && s.toRenter > own ? own : 0n
  }
  const releaseOf = (order: OrderTerms, s: Settlement): CosmosRelease => ({
    orderId: order.id, denom: order.token,
    payments: [{ to: order.payout, amount: s.toProvider }, { to: s.feeRecipient, amount: s.fee }, { to: order.renter, amount: s.toRenter - refundPaysFee(order, s) }],
  })
  const vaultAt = (accountNumber: number, sequence: number, timeoutHeight: bigint): CosmosVaultState => ({ chainId, address: c.vault, pubkey: multisig, accountNumber, sequence, fee, timeoutHeight })
  const docHash = (r: CosmosRelease, v: CosmosVaultState) => hexOf(sha256(serializeSignDoc(releaseSignDoc(r, v))))
  const attestation = (s: Settlement) => new TextEncoder().encode(`qantara/cosmos-settlement/v1:${chainId}:${c.vault}:${settlementHash(s)}`)
  const putState = (key: string, state: 'pending' | 'confirmed' | 'already-settled' | 'failed', payload: Payload | Record<string, never>) =>
    o.store.putSubmission({ chain, key, signer: o.key.address, nonce: 'sequence' in payload ? payload.sequence : 0, state, payload, updatedAt: Date.now() })

  /** Broadcasts a stored release; the chain's refusal at CheckTx, if any. */
  async function broadcast(p: Payload): Promise<{ code: number; log: string } | undefined> {
    try {
      await (await client()).broadcastTxSync(fromBase64(p.tx))
      return undefined
    } catch (err) {
      if (err instanceof BroadcastTxError) return { code: err.code, log: err.log ?? err.message }
      log.warn({ hash: p.hash, err: (err as Error).message }, 'release broadcast failed; following it')
      return undefined
    }
  }

  /** Follows a sent release until it has landed or can never land: its sequence taken by another transaction, or its timeout height passed. */
  async function follow(p: Payload, signal?: AbortSignal): Promise<Fate> {
    let lastSent = Date.now()
    for (;;) {
      const found = await (await client()).getTx(p.hash)
      if (found) return found.code === 0 ? { end: 'landed' } : { end: 'failed', code: found.code, log: found.rawLog.slice(0, 300) }
      // The height first: a sequence read after it that has not moved means nothing landed up to that height.
      const seen = await height()
      const { sequence } = await account()
      if (sequence > p.sequence) {
        const taker = await tookSequence(p.sequence)
        if (taker && taker.hash !== p.hash) return { end: 'lost' }
      } else if (BigInt(seen) > BigInt(p.timeoutHeight)) {
        return { end: 'lost' }
      } else if (Date.now() - lastSent >= RESEND_MS) {
        lastSent = Date.now()
        await broadcast(p)
      }
      await abortableDelay(o.pollMs ?? 500, signal)
    }
  }

  /** This relayer's signature and enough co-signers' over the release, each checked against its key in the multisig. */
  async function gather(order: OrderTerms, r: CosmosRelease, v: CosmosVaultState, attested: SettlementSignature[], signal?: AbortSignal): Promise<Map<string, Uint8Array>> {
    const signatures = new Map([[o.key.address, await signRelease(await o.key.aminoSigner(), o.key.address, r, v)]])
    const request = { v: 1, accountNumber: v.accountNumber, sequence: v.sequence, timeoutHeight: v.timeoutHeight.toString(), fee: v.fee, doc: docHash(r, v) }
    const message = Buffer.from(JSON.stringify(request)).toString('base64')
    // Members whose attestations of this settlement are in are asked first.
    const first = [...new Set(attested.map((s) => s.signer))].filter((a) => a !== o.key.address && signerKeys.has(a))
    let queue = [...first, ...[...signerKeys.keys()].filter((a) => a !== o.key.address && !first.includes(a))]
    const failures: string[] = []
    while (signatures.size < c.multisig.threshold && queue.length > 0 && !signal?.aborted) {
      const batch = queue.slice(0, c.multisig.threshold - signatures.size)
      queue = queue.slice(batch.length)
      await Promise.all(batch.map(async (a) => {
        const id = memberOf.get(a)
        if (!id) return failures.push(`no quorum member has Cosmos address ${a}`)
        try {
          const sig = await o.cosign(id, order.id, message, signal)
          const bytes = fromBase64(sig.signature)
          if (sig.signer !== a || !verifyReleaseSignature(signerKeys.get(a)!, r, v, bytes)) return failures.push(`${id} answered with a signature that does not verify`)
          signatures.set(a, bytes)
        } catch (err) {
          failures.push(`${id}: ${(err as Error).message}`)
        }
        return undefined
      }))
    }
    if (signatures.size < c.multisig.threshold) {
      throw new QantaraError('SUBMIT_FAILED', `no ${c.multisig.threshold - 1} co-signers for the release of ${order.id} at sequence ${v.sequence}: ${[...new Set(failures)].join('; ').slice(0, 500)}`, { retryable: true })
    }
    return signatures
  }

  async function submit(order: OrderTerms, settlement: Settlement, attested: SettlementSignature[], signal?: AbortSignal): Promise<SubmitOutcome> {
    const key = `release:${order.id}`
    const r = releaseOf(order, settlement)
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const stored = await o.store.getSubmission(chain, key)
      if (stored?.state === 'confirmed') return { status: 'submitted', txHash: (stored.payload as Payload).hash, confirmations: 1 }
      if (stored?.state === 'already-settled') return { status: 'already-settled' }
      if (stored?.state === 'pending') {
        const p = stored.payload as Payload
        // Perhaps never sent (a crash right after it was stored): the same bytes again cost nothing.
        if (round === 0) await broadcast(p)
        const fate = await follow(p, signal)
        if (fate.end === 'landed') {
          await putState(key, 'confirmed', p)
          return { status: 'submitted', txHash: p.hash, confirmations: 1 }
        }
        await putState(key, 'failed', p)
        // Out of gas, a vault short of funds or of its fee reserve: another try would spend another fee the same way.
        if (fate.end === 'failed') throw new QantaraError('SUBMIT_REVERTED', `the release of ${order.id} failed on chain: code ${fate.code} ${fate.log}`, { retryable: false, context: { revert: `code ${fate.code}` } })
        log.info({ orderId: order.id, hash: p.hash, sequence: p.sequence }, 'release did not land at its sequence; rebuilding')
      }
      let { accountNumber, sequence } = await account()
      let state = await releasedBefore(order.id, sequence)
      // Right after a vault transaction this relayer's watcher is a poll or so behind it: worth a short wait.
      for (const until = Date.now() + CATCH_UP_MS; state === 'behind' && Date.now() < until;) {
        await abortableDelay(o.pollMs ?? 500, signal)
        ;({ accountNumber, sequence } = await account())
        state = await releasedBefore(order.id, sequence)
      }
      if (state === 'released') {
        await putState(key, 'already-settled', {})
        return { status: 'already-settled' }
      }
      if (state === 'behind') throw new QantaraError('SUBMIT_FAILED', `the watcher has not yet read the vault's transaction at sequence ${sequence - 1}`, { retryable: true })
      const v = vaultAt(accountNumber, sequence, BigInt(await height()) + BigInt(c.timeoutBlocks))
      const tx = assembleRelease(r, v, await gather(order, r, v, attested, signal))
      const p: Payload = { tx: toBase64(tx), hash: txHashOf(tx), sequence, timeoutHeight: v.timeoutHeight.toString() }
      // Stored before it is broadcast: after a crash the same transaction is followed, and it can only land at this sequence.
      await putState(key, 'pending', p)
      const refused = await broadcast(p)
      // A wrong sequence is a rival release in the mempool: it is followed until the rival takes the sequence or expires.
      if (refused && refused.code !== WRONG_SEQUENCE) {
        await putState(key, 'failed', p)
        throw new QantaraError('SUBMIT_FAILED', `the node refused the release of ${order.id}: code ${refused.code} ${refused.log.slice(0, 300)}`, { retryable: true })
      }
    }
    throw new QantaraError('SUBMIT_FAILED', `the release of ${order.id} lost the vault's sequence to other transactions ${MAX_ROUNDS} times in a row`, { retryable: true })
  }

  return {
    chain,
    kind: 'vault',
    watcher: new CosmosVaultWatcher({
      chain, comet: node, vault: c.vault, prefix, denoms: c.denoms, feeDenom: fee.amount[0]?.denom, extraDepth: c.extraDepth, startHeight: c.startHeight, maxBlocksPerPoll: c.maxBlocksPerPoll, logger: o.logger,
      minRefund: new Map(Object.entries(c.minRefund).map(([d, v]) => [d, BigInt(v)])),
      minOrderAmount: new Map(Object.entries(c.minOrderAmount).map(([d, v]) => [d, BigInt(v)])),
      // Decided from the committed chain events, which every relayer reads alike, never from the orders table the
      // ticker fills later: a second deposit of an id read before the first was applied would be dropped (review #15).
      knownOrder: async (id, txHash) => (await o.store.listOrderEvents(chain, id)).some((e) => e.kind === 'OrderOpened' && e.txHash !== txHash),
    }),
    feeRecipient: c.feeRecipient ?? '',
    maxLag: BigInt(c.maxLagBlocks),
    pollIntervalMs: c.pollIntervalMs,

    signSettlement(_order, settlement): Promise<SettlementSignature> {
      return Promise.resolve({ signer: o.key.address, signature: hexOf(o.key.sign(attestation(settlement))) })
    },

    verifySettlementSignature(_order, settlement, relayerId, sig) {
      const key = o.members.get(relayerId)
      if (key === undefined || !/^[0-9a-f]{128}$/.test(sig.signature)) return Promise.resolve(false)
      const pubkey = fromBase64(key)
      return Promise.resolve(sig.signer === cosmosAddress(pubkey, prefix) && cosmosVerify(pubkey, attestation(settlement), Buffer.from(sig.signature, 'hex')))
    },

    submitSettlement(order, settlement, signatures, signal): Promise<SubmitOutcome> {
      // Orders' releases go ahead of refunds waiting for the vault's sequence: a flood of stray deposits never delays a real order.
      return serial.add(() => submit(order, settlement, signatures, signal), { priority: isRefundOrder(order) ? 0 : 1 })
    },

    async cosignRelease(order, settlement, message): Promise<SettlementSignature> {
      const refuse = (why: string) => new QantaraError('COSIGN_REFUSED', `release of ${order.id}: ${why}`, { details: why })
      // Released or closed already, by this relayer's store, at whatever sequence (review L2).
      await assertReleaseOpen(o.store, chain, order.id)
      if (!signerKeys.has(o.key.address)) throw refuse('this relayer is not a signer of the vault\'s multisig')
      if (message.length > MAX_REQUEST_CHARS) throw refuse('request too long')
      let request: z.infer<typeof cosignRequest>
      try {
        request = cosignRequest.parse(JSON.parse(Buffer.from(message, 'base64').toString('utf8')))
      } catch {
        throw refuse('not a release request')
      }
      if (!sameFee(request.fee, fee)) throw refuse(`its fee is not this relayer's (${fee.gas} gas for ${fee.amount.map((a) => a.amount + a.denom).join(',') || 'nothing'})`)
      const seen = BigInt(await height())
      const { accountNumber, sequence } = await account()
      if (request.accountNumber !== accountNumber) throw refuse('it is not for the vault\'s account')
      // Only the sequence the vault is at now: everything that could have landed before it is on chain to check.
      if (request.sequence !== sequence) throw refuse(`sequence ${request.sequence} is not the vault's current ${sequence}`)
      const timeoutHeight = BigInt(request.timeoutHeight)
      if (timeoutHeight <= seen || timeoutHeight > seen + BigInt(c.timeoutBlocks) + 10n) throw refuse('its timeout height is out of range')
      const state = await releasedBefore(order.id, sequence)
      if (state === 'released') throw new QantaraError('COSIGN_REFUSED', `release of ${order.id}: the order is already released`, { details: 'ALREADY_RELEASED', retryable: false })
      if (state === 'behind') throw refuse('this relayer has not yet read the vault\'s last transaction')
      const r = releaseOf(order, settlement)
      const v = vaultAt(accountNumber, sequence, timeoutHeight)
      if (docHash(r, v) !== request.doc) throw refuse('it is not the release of this relayer\'s settlement')
      return { signer: o.key.address, signature: toBase64(await signRelease(await o.key.aminoSigner(), o.key.address, r, v)) }
    },
  }
}

/** The fee of one release at the configured gas price; nothing at a price of zero (a zero coin is not a valid fee). */
export function releaseFee(c: Pick<CosmosChainConfig, 'gasPrice' | 'gasLimit'>): StdFee {
  const f = calculateFee(c.gasLimit, GasPrice.fromString(c.gasPrice))
  return { amount: f.amount.filter((a) => a.amount !== '0'), gas: f.gas }
}

function sameFee(a: StdFee, b: StdFee): boolean {
  return a.gas === b.gas && a.amount.length === b.amount.length && a.amount.every((x, i) => x.denom === b.amount[i]!.denom && x.amount === b.amount[i]!.amount)
}
