import { getBase58Codec, type Address, type Signature } from '@solana/kit'
import { z } from 'zod'
import type { ChainId } from '../../src/caip2.js'
import type { ChainEvent, Checkpoint, Watcher, WatchResult } from '../../src/chains.js'
import { QantaraError } from '../../src/errors.js'
import type { Logger } from '../../src/log.js'
import { orderEnd, type Hex32, type OrderTerms } from '../../src/order.js'
import { decodeOrderMemo, vaultOrderId, type MemoProblem } from '../../src/vault/orderMemo.js'
import type { VaultQuoteProblem } from '../../src/vault/btcQuote.js'
import { decodeBtcShareMemo, decodeReleaseMemo } from '../../src/vault/releaseMemo.js'
import { solanaQuotedTerms } from './btcQuote.js'
import { vaultOrderProblem, type VaultOrderProblem } from '../../src/vault/vaultOrderProblem.js'
import type { SolanaRpc } from './rpc.js'

export const TOKEN_PROGRAM = 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA'
/** SPL Memo v2, the one litesvm and every cluster load. */
export const MEMO_PROGRAM = 'MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr'
const TRANSFER_CHECKED = 12

export type DepositProblem =
  | MemoProblem
  | VaultOrderProblem
  | 'NO_MEMO'
  | 'MULTIPLE_MEMOS'
  | 'NO_TRANSFER'
  | 'MULTIPLE_TRANSFERS'
  | 'WRONG_MINT'
  | 'VAULT_NOT_CREDITED'
  | 'AMOUNT_MISMATCH'
  | 'BAD_PAYOUT'
  | 'DUPLICATE_ORDER'
  | 'BTC_PAYOUT_UNSUPPORTED'
  | VaultQuoteProblem

export interface SolanaVaultWatcherOptions {
  chain: ChainId
  rpc: SolanaRpc
  /** The SPL Token account renters pay into. */
  vault: Address
  mint: Address
  memoProgram?: string
  /** Signatures older than this slot are never read (the vault's creation). */
  startSlot: bigint
  /**
   * Whether a transaction other than `txHash` already opened `orderId`, by the chain events committed to the
   * store: the first deposit of an id opens it, later ones are refunded (DUPLICATE_ORDER). Never the orders
   * table, which the relayer's ticker fills later (security review 2026-12, section 15).
   */
  knownOrder(orderId: Hex32, txHash: string): Promise<boolean>
  logger: Logger
  maxTransactionsPerPoll?: number
  /** Signatures per getSignaturesForAddress page (at most 1000). */
  pageSize?: number
  /** getSignaturesForAddress pages one poll reads at most. */
  maxPagesPerPoll?: number
  /**
   * The least a deposit that opens no order must credit the vault to be refunded: a refund's release costs its
   * submitter a receipt account's rent (~0.002 SOL), far more than a dust deposit costs its sender. Below it the
   * deposit stays in the vault: reported without a sender, so no refund order is made, and logged.
   */
  minRefund?: bigint
  /**
   * The least a deposit must credit the vault to open an order (BELOW_MIN_ORDER below it, and refunded as any
   * deposit that opens none): an order's release costs a receipt's rent too. 0n, the default, for no minimum.
   */
  minOrderAmount?: bigint
  /**
   * The most one order may owe its provider in BTC, in satoshis: a quote for more opens no order
   * (PAYOUT_ABOVE_CAP). 0n, the default, takes no BTC orders: each is refunded (BTC_PAYOUT_UNSUPPORTED).
   */
  maxPayoutSats?: bigint
}

/** A signature not yet read, left while paging back a backlog; in the checkpoint as `signature.slot.failed`. */
interface Anchor {
  signature: string
  slot: bigint
  err: unknown
}
const anchorText = (a: Anchor) => `${a.signature}.${a.slot}.${a.err ? 1 : 0}`

/** The checkpoint's hash: the last signature read, then the anchors, lowest last, separated by spaces. */
function parseCursor(hash: string): { last: string; anchors: Anchor[] } {
  const [last = '', ...rest] = hash.split(' ')
  const anchors = rest.map((t) => {
    const m = /^([1-9A-HJ-NP-Za-km-z]{64,90})\.(\d{1,20})\.([01])$/.exec(t)
    if (!m)
      throw new QantaraError('RPC_BAD_RESPONSE', `checkpoint anchor ${t.slice(0, 100)} is malformed`, {
        retryable: false,
      })
    return { signature: m[1]!, slot: BigInt(m[2]!), err: m[3] === '1' ? 'failed' : null }
  })
  return { last, anchors }
}
const num = z.union([z.number(), z.bigint()]).transform(Number)
const signaturePage = z.array(
  z.object({
    signature: z.string().min(64).max(90),
    slot: z.union([z.number(), z.bigint()]).transform(BigInt),
    err: z.unknown(),
  }),
)
const tokenBalance = z.object({
  accountIndex: num,
  mint: z.string(),
  owner: z.string().optional(),
  uiTokenAmount: z.object({ amount: z.string().regex(/^\d{1,30}$/) }),
})
const transactionSchema = z.object({
  slot: z.union([z.number(), z.bigint()]).transform(BigInt),
  /** The block's time, Unix seconds, as the cluster's votes fixed it; null only where a node has none (blocks of 2020). */
  blockTime: z.union([z.number().int(), z.bigint()]).transform(BigInt).nullish(),
  transaction: z.object({
    message: z.object({
      accountKeys: z.array(z.string()).max(256),
      instructions: z
        .array(z.object({ programIdIndex: num, accounts: z.array(num).max(64), data: z.string().max(2_000) }))
        .max(64),
    }),
  }),
  meta: z.object({
    err: z.unknown(),
    preTokenBalances: z.array(tokenBalance).max(256).nullish(),
    postTokenBalances: z.array(tokenBalance).max(256).nullish(),
    loadedAddresses: z
      .object({ writable: z.array(z.string()).max(256), readonly: z.array(z.string()).max(256) })
      .nullish(),
  }),
})
type ParsedTransaction = z.infer<typeof transactionSchema>

/**
 * Opens orders from deposits into the vault: one transaction holding a
 * `transferChecked` into the vault and a Memo with the order terms, read at
 * `finalized` commitment. The amount is what the vault's token balance shows
 * it gained, not what the memo claims; the renter is the owner of the account
 * the tokens came from. A deposit that does not make an order is reported as
 * `VaultDepositIgnored` with its reason, never dropped silently.
 */
export class SolanaVaultWatcher implements Watcher {
  readonly chain: ChainId
  private readonly log: Logger
  private readonly b58 = getBase58Codec()

  constructor(private readonly o: SolanaVaultWatcherOptions) {
    this.chain = o.chain
    this.log = o.logger.child({ module: 'solana-watcher', chain: o.chain })
  }

  /**
   * Reads the vault's signatures oldest first from the checkpoint, at most `maxTransactionsPerPoll` a poll.
   * The node pages newest first, so a backlog deeper than a page is walked back once, a few pages a poll,
   * leaving an anchor at the oldest signature of each full page; it is then read upwards, a page at a time
   * below the lowest anchor, and that anchor after it. The anchors are kept in the checkpoint, so no poll
   * pages the backlog again and no backlog is too deep: a burst slows the watcher, never stops it (security
   * review 2026-12, section 9).
   */
  async poll(from: Checkpoint | undefined, signal?: AbortSignal): Promise<WatchResult> {
    const head = BigInt(
      await this.o.rpc
        .getSlot({ commitment: 'finalized' })
        .send({ ...(signal ? { abortSignal: signal } : {}) }),
    )
    const limit = Math.min(this.o.pageSize ?? 1000, 1000)
    const maxPages = Math.max(1, this.o.maxPagesPerPoll ?? 20)
    const { last: lastRead, anchors } = parseCursor(from?.hash ?? '')
    let last = lastRead
    let height = from?.height ?? this.o.startSlot
    let budget = this.o.maxTransactionsPerPoll ?? 200
    const events: ChainEvent[] = []
    const opened = new Set<string>()
    for (let pages = 0; budget > 0 && pages < maxPages; pages++) {
      const below = anchors.at(-1)
      const page = await this.page(limit, below?.signature, last)
      const inRange = page.filter((s) => s.slot >= this.o.startSlot)
      // A full page may have more below it: walk on down, from its oldest signature.
      if (page.length === limit && inRange.length === page.length) {
        anchors.push(page.at(-1)!)
        continue
      }
      // Every unread signature between the last one read and the lowest anchor, then the anchor itself.
      for (const s of [...inRange.reverse(), ...(below ? [below] : [])]) {
        if (budget === 0) break
        if (!s.err) events.push(...(await this.read(s.signature, opened)))
        budget--
        last = s.signature
        height = s.slot
        if (s === below) anchors.pop()
      }
      if (!below) break
    }
    if (anchors.length > 0)
      this.log.info(
        { anchors: anchors.length, slot: height.toString() },
        'reading a backlog of vault transactions',
      )
    return {
      events,
      checkpoint: { height, hash: [last, ...anchors.map(anchorText)].join(' ') },
      head,
      lag: head > height ? head - height : 0n,
    }
  }

  /** One getSignaturesForAddress page, newest first: below `before` (or from the head) and above `until` (or from the start). */
  private async page(limit: number, before: string | undefined, until: string): Promise<Anchor[]> {
    const answer = await this.o.rpc
      .getSignaturesForAddress(this.o.vault, {
        commitment: 'finalized',
        limit,
        ...(before ? { before: before as Signature } : {}),
        ...(until ? { until: until as Signature } : {}),
      })
      .send()
    const parsed = signaturePage.safeParse(answer)
    if (!parsed.success || parsed.data.length > limit)
      throw new QantaraError(
        'RPC_BAD_RESPONSE',
        `getSignaturesForAddress answered an unexpected page: ${parsed.error?.issues[0]?.message ?? `${parsed.data?.length} entries`}`,
        { retryable: true },
      )
    return parsed.data
  }

  private async read(signature: string, opened: Set<string>): Promise<ChainEvent[]> {
    const raw = await this.o.rpc
      .getTransaction(signature as Signature, {
        commitment: 'finalized',
        encoding: 'json',
        maxSupportedTransactionVersion: 0,
      })
      .send()
    if (!raw)
      throw new QantaraError('RPC_BAD_RESPONSE', `finalized transaction ${signature} is missing`, {
        retryable: true,
      })
    const parsed = transactionSchema.safeParse(raw)
    if (!parsed.success)
      throw new QantaraError(
        'RPC_BAD_RESPONSE',
        `transaction ${signature} has an unexpected shape: ${parsed.error.issues[0]?.message}`,
        { retryable: true },
      )
    const tx = parsed.data
    // A failed transaction moved nothing, whatever it names: never a release, a deposit or a refund.
    if (tx.meta.err !== null && tx.meta.err !== undefined) return []
    const block = { height: tx.slot, hash: signature }
    const keys = [
      ...tx.transaction.message.accountKeys,
      ...(tx.meta.loadedAddresses?.writable ?? []),
      ...(tx.meta.loadedAddresses?.readonly ?? []),
    ]
    const release = this.release(tx, keys)
    if (release?.btcShare) {
      const { btcShare, ...paid } = release
      return [
        {
          kind: 'VaultBtcShareReleased',
          chain: this.chain,
          key: `VaultBtcShareReleased:${signature}`,
          block,
          txHash: signature,
          ...paid,
          ...(btcShare.btcTxid ? { btcTxid: btcShare.btcTxid } : {}),
        },
      ]
    }
    if (release)
      return [
        {
          kind: 'VaultReleased',
          chain: this.chain,
          key: `VaultReleased:${signature}`,
          block,
          txHash: signature,
          orderId: release.orderId,
          payments: release.payments,
        },
      ]
    const verdict = await this.deposit(tx, keys, opened, signature)
    if (verdict === undefined) return []
    if ('reason' in verdict) {
      if (verdict.unrefunded)
        this.log.warn(
          {
            signature,
            reason: verdict.reason,
            sender: verdict.unrefunded,
            amount: verdict.amount.toString(),
            minRefund: this.o.minRefund?.toString(),
          },
          'vault deposit ignored and not refunded: below the minimum refund, it stays in the vault',
        )
      else this.log.warn({ signature, reason: verdict.reason }, 'vault deposit ignored')
      return [
        {
          kind: 'VaultDepositIgnored',
          chain: this.chain,
          key: `VaultDepositIgnored:${signature}`,
          block,
          txHash: signature,
          reason: verdict.reason,
          ...(verdict.sender ? { sender: verdict.sender } : {}),
          token: this.o.mint,
          amount: verdict.amount,
        },
      ]
    }
    return [
      {
        kind: 'OrderOpened',
        chain: this.chain,
        key: `OrderOpened:${signature}`,
        block,
        txHash: signature,
        order: verdict,
      },
    ]
  }

  /**
   * A release: the vault paid out, under a release memo (`qrel1:<orderId>`, or `qbtc1:` for a BTC-owed
   * share); what each wallet gained.
   */
  private release(
    tx: ParsedTransaction,
    keys: string[],
  ):
    | {
        orderId: Hex32
        payments: { owner: string; amount: bigint }[]
        btcShare?: { btcTxid?: string }
      }
    | undefined {
    const vaultIndex = keys.indexOf(this.o.vault)
    const memo = tx.transaction.message.instructions
      .filter((ix) => keys[ix.programIdIndex] === (this.o.memoProgram ?? MEMO_PROGRAM))
      .map((ix) => {
        const text = Buffer.from(this.b58.encode(ix.data)).toString('utf8')
        const settlement = decodeReleaseMemo(text)
        if (settlement) return { orderId: settlement }
        const share = decodeBtcShareMemo(text)
        return share && { orderId: share.orderId, btcShare: share.btcTxid ? { btcTxid: share.btcTxid } : {} }
      })
      .find((found) => found !== undefined)
    if (!memo || (this.delta(tx, vaultIndex) >= 0n && !this.fromVault(tx, keys))) return undefined
    const { orderId } = memo
    const payments = (tx.meta.postTokenBalances ?? [])
      .filter((b) => b.accountIndex !== vaultIndex && b.mint === this.o.mint && b.owner)
      .map((b) => ({ owner: b.owner!, amount: this.delta(tx, b.accountIndex) }))
      .filter((p) => p.amount > 0n)
    return { orderId, payments, ...(memo.btcShare ? { btcShare: memo.btcShare } : {}) }
  }

  /**
   * Whether the (successful) transaction moves tokens out of the vault, by any amount: only the vault's owner, the
   * multisig, can sign that, so a stranger's transaction naming the vault and a release memo never counts.
   */
  private fromVault(tx: ParsedTransaction, keys: string[]): boolean {
    return tx.transaction.message.instructions.some(
      (ix) =>
        keys[ix.programIdIndex] === TOKEN_PROGRAM &&
        keys[ix.accounts[0] ?? -1] === this.o.vault &&
        this.b58.encode(ix.data)[0] === TRANSFER_CHECKED,
    )
  }

  /** How much an account's token balance changed in the transaction. */
  private delta(tx: ParsedTransaction, index: number): bigint {
    const at = (list: ParsedTransaction['meta']['preTokenBalances']) =>
      BigInt(list?.find((b) => b.accountIndex === index)?.uiTokenAmount.amount ?? '0')
    return at(tx.meta.postTokenBalances) - at(tx.meta.preTokenBalances)
  }

  /** The order a transaction opens; a reason when it pays the vault without making one; undefined when it does not pay the vault. */
  private async deposit(
    tx: ParsedTransaction,
    keys: string[],
    opened: Set<string>,
    signature: string,
  ): Promise<
    OrderTerms | { reason: DepositProblem; sender?: string; unrefunded?: string; amount: bigint } | undefined
  > {
    const credited = this.delta(tx, keys.indexOf(this.o.vault))
    const ixs = tx.transaction.message.instructions.map((ix) => ({
      program: keys[ix.programIdIndex],
      accounts: ix.accounts.map((a) => keys[a]),
      data: this.b58.encode(ix.data),
    }))
    const memos = ixs
      .filter((ix) => ix.program === (this.o.memoProgram ?? MEMO_PROGRAM))
      .map((ix) => Buffer.from(ix.data).toString('utf8'))
      .filter((m) => m.startsWith('qv'))
    const transfers = ixs.filter(
      (ix) =>
        ix.program === TOKEN_PROGRAM &&
        ix.data[0] === TRANSFER_CHECKED &&
        ix.data.length === 10 &&
        ix.accounts[2] === this.o.vault,
    )
    if (credited <= 0n && memos.length === 0) return undefined
    const source = transfers[0]?.accounts[0]
    const sourceIndex = source ? keys.indexOf(source) : -1
    const sender = tx.meta.preTokenBalances?.find((b) => b.accountIndex === sourceIndex)?.owner
    const amount = credited > 0n ? credited : 0n
    // Dust is not worth a refund's rent: without a sender no refund order is made (security review 2026-12, section 10).
    const refundable = amount >= (this.o.minRefund ?? 0n)
    const ignored = (reason: DepositProblem) => ({
      reason,
      amount,
      ...(sender ? (refundable ? { sender } : { unrefunded: sender }) : {}),
    })
    if (memos.length === 0) return ignored('NO_MEMO')
    if (memos.length > 1) return ignored('MULTIPLE_MEMOS')
    if (transfers.length === 0) return ignored('NO_TRANSFER')
    if (transfers.length > 1) return ignored('MULTIPLE_TRANSFERS')
    if (transfers[0]!.accounts[1] !== this.o.mint) return ignored('WRONG_MINT')
    const decoded = decodeOrderMemo(memos[0]!)
    if (!decoded.ok) return ignored(decoded.reason)
    const m = decoded.memo
    if (credited <= 0n) return ignored('VAULT_NOT_CREDITED')
    if (credited !== m.amount) return ignored('AMOUNT_MISMATCH')
    if (m.payout.length !== 32 || !sender) return ignored('BAD_PAYOUT')
    if (m.quote && !this.o.maxPayoutSats) return ignored('BTC_PAYOUT_UNSUPPORTED')
    // Judged at the deposit's block, which every relayer reads alike (security review 2026-12, M1).
    if (tx.blockTime === null || tx.blockTime === undefined)
      throw new QantaraError(
        'RPC_BAD_RESPONSE',
        `transaction ${signature} has no block time on this node; the vault needs a node that keeps it`,
        { retryable: true },
      )
    const problem = vaultOrderProblem({
      order: m,
      blockTime: tx.blockTime,
      minOrderAmount: this.o.minOrderAmount ?? 0n,
    })
    if (problem) return ignored(problem)
    const id = vaultOrderId(this.chain, sender, m.salt)
    const quoted = m.quote
      ? solanaQuotedTerms(
          {
            chain: this.chain,
            vault: this.o.vault,
            orderId: id,
            token: this.o.mint,
            amount: credited,
            end: orderEnd(m),
          },
          m.quote,
          tx.blockTime,
          this.o.maxPayoutSats ?? 0n,
        )
      : undefined
    if (quoted && 'problem' in quoted) return ignored(quoted.problem)
    if (opened.has(id) || (await this.o.knownOrder(id, signature))) return ignored('DUPLICATE_ORDER')
    opened.add(id)
    return {
      ...(quoted ? { btc: quoted.terms } : {}),
      id,
      chain: this.chain,
      renter: sender,
      token: this.o.mint,
      amount: credited,
      providerId: m.providerId,
      payout: this.b58.decode(m.payout),
      start: m.start,
      slotLength: m.slotLength,
      slots: m.slots,
      gpu: m.gpu,
    }
  }
}
