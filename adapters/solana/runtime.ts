import {
  address, getAddressDecoder, getAddressEncoder, getBase58Decoder, getBase64EncodedWireTransaction, getCompiledTransactionMessageDecoder,
  type Address, type Base64EncodedWireTransaction, type Signature, type Transaction,
} from '@solana/kit'
import { fetchNonce } from '@solana-program/system'
import { TOKEN_PROGRAM_ADDRESS } from '@solana-program/token'
import { abortableDelay } from '../../src/abort.js'
import type { VaultChainRuntime, Cosigner, SettlementSignature, SubmitOutcome } from '../../src/chains.js'
import { ed25519Verify } from '../../src/ed25519.js'
import { QantaraError } from '../../src/errors.js'
import type { Logger } from '../../src/log.js'
import type { OrderTerms } from '../../src/order.js'
import type { Settlement } from '../../src/settlement.js'
import { settlementHash } from '../../src/settlementWire.js'
import type { Store } from '../../src/store/store.js'
import { assertReleaseOpen } from '../../src/vault/assertReleaseOpen.js'
import type { SolanaChainConfig } from './config.js'
import type { SolanaKey } from './keys.js'
import { buildReleaseTransaction, releaseReceipt, type ReleaseAuthority, type VaultRelease } from './release.js'
import { solanaRpc, type SolanaRpc } from './rpc.js'
import { SolanaVaultWatcher } from './watcher.js'

/** How long a sent release may stay unseen by the node before it is sent again. */
const RESEND_MS = 10_000
/** A release is one legacy transaction; nothing longer is a release. */
const MAX_MESSAGE_BYTES = 1_232
const hexOf = (b: ArrayLike<number>) => `0x${Buffer.from(Uint8Array.from(b)).toString('hex')}`
const bytesOf = (hex: string) => Uint8Array.from(Buffer.from(hex.replace(/^0x/, ''), 'hex'))
const pubkeyHex = (a: string) => hexOf(getAddressEncoder().encode(address(a)))

interface VaultInfo { m: number; signers: Address[]; decimals: number }
interface Payload { wire: Base64EncodedWireTransaction; signature: string; nonce: string }

export interface SolanaRuntimeOptions {
  config: SolanaChainConfig
  key: SolanaKey
  /** Quorum member id → its Solana address. */
  members: ReadonlyMap<string, string>
  store: Store
  logger: Logger
  cosign: Cosigner
  /** How often a sent release's status is read. */
  pollMs?: number
}

/**
 * One Solana vault chain: the vault watcher, settlement attestations signed
 * with the relayer's Solana key, and releases co-signed by the round's
 * signers. The submitter builds the release on its own durable nonce and
 * asks the others to sign it; each of them rebuilds it from its own
 * settlement and signs only identical bytes. The release freezes its
 * order's receipt account, which makes it once-only on chain, whoever sends
 * it; an order is released when, and only when, that receipt is frozen.
 */
export function solanaRuntime(o: SolanaRuntimeOptions): VaultChainRuntime {
  const c = o.config
  const chain = c.id as `solana:${string}`
  const rpc: SolanaRpc = solanaRpc({ url: c.rpc[0]!, timeoutMs: c.rpcTimeoutMs })
  const log = o.logger.child({ module: 'solana-runtime', chain })
  const [vault, mint, multisig, nonceAccount, receiptMint] = [address(c.vault), address(c.mint), address(c.multisig), address(c.nonceAccount), address(c.receiptMint)]
  let info: Promise<VaultInfo> | undefined
  const vaultInfo = () => (info ??= readVault(rpc, multisig, mint, receiptMint).catch((err: unknown) => {
    info = undefined
    throw err
  }))

  const releaseOf = (order: OrderTerms, s: Settlement): VaultRelease => ({
    orderId: order.id, provider: address(order.payout), toProvider: s.toProvider, renter: address(order.renter), toRenter: s.toRenter,
    feeRecipient: address(s.fee > 0n ? s.feeRecipient : order.renter), fee: s.fee,
  })
  const authority = async (signers: Address[], nonceAccountAddress: Address, nonce: string): Promise<ReleaseAuthority> => ({
    vault, multisig, mint, receiptMint, decimals: (await vaultInfo()).decimals, signers, nonceAccount: nonceAccountAddress, nonce, memoProgram: c.memoProgram,
  })
  const attestation = (s: Settlement) => new TextEncoder().encode(`qantara/solana-settlement/v1:${c.vault}:${settlementHash(s)}`)
  /**
   * Released means the order's receipt is frozen: only the multisig can freeze
   * it, in the release itself. Never mere existence, which anyone can bring
   * about (security review 2026-12, section 2). The receipt mint is checked
   * first, so a freeze authority other than the multisig can never count.
   */
  const released = async (orderId: OrderTerms['id']) => {
    await vaultInfo()
    const receipt = (await rpc.getAccountInfo(await releaseReceipt(orderId, receiptMint), { commitment: 'confirmed', encoding: 'base64' }).send()).value
    return receipt !== null && receiptFrozen(receipt.owner, Buffer.from(receipt.data[0], 'base64'), receiptMint)
  }
  const sign = (tx: Transaction): string => o.key.signer.sign(Uint8Array.from(tx.messageBytes))

  async function track(orderId: OrderTerms['id'], key: string, p: Payload, signal?: AbortSignal): Promise<SubmitOutcome> {
    let lastSent = Date.now()
    for (;;) {
      const [status] = (await rpc.getSignatureStatuses([p.signature as Signature]).send()).value
      if (status?.err) break
      if (status?.confirmationStatus === 'finalized') {
        await putState(key, 'confirmed', p)
        return { status: 'submitted', txHash: p.signature, confirmations: 1 }
      }
      if (!status) {
        // Unseen and its nonce gone: it can never land. Someone's release may have.
        if ((await currentNonce()) !== p.nonce) break
        // Unseen, nonce unchanged: dropped on the way. A durable-nonce transaction can be sent again as it is.
        if (Date.now() - lastSent >= RESEND_MS) {
          lastSent = Date.now()
          await rpc.sendTransaction(p.wire, { encoding: 'base64', skipPreflight: true }).send().catch(() => undefined)
        }
      }
      await abortableDelay(o.pollMs ?? 500, signal)
    }
    if (await released(orderId)) {
      await putState(key, 'already-settled', p)
      return { status: 'already-settled' }
    }
    await putState(key, 'failed', p)
    throw new QantaraError('SUBMIT_FAILED', `release ${p.signature} did not land and the order is not released`, { retryable: true })
  }
  const putState = (key: string, state: 'pending' | 'confirmed' | 'already-settled' | 'failed', payload: Payload) =>
    o.store.putSubmission({ chain, key, signer: o.key.address, nonce: 0, state, payload, updatedAt: Date.now() })
  const currentNonce = async () => (await fetchNonce(rpc, nonceAccount, { commitment: 'confirmed' })).data.blockhash as string

  return {
    chain,
    kind: 'vault',
    watcher: new SolanaVaultWatcher({
      chain, rpc, vault, mint, memoProgram: c.memoProgram, startSlot: BigInt(c.startSlot), minRefund: BigInt(c.minRefund), minOrderAmount: BigInt(c.minOrderAmount), logger: o.logger,
      // Decided from the committed chain events, which every relayer reads alike, never from the orders table the
      // ticker fills later: a second deposit of an id read before the first was applied would be dropped (review #15).
      knownOrder: async (id, txHash) => (await o.store.listOrderEvents(chain, id)).some((e) => e.kind === 'OrderOpened' && e.txHash !== txHash),
    }),
    feeRecipient: c.feeRecipient ?? '',
    maxLag: BigInt(c.maxLagSlots),
    pollIntervalMs: c.pollIntervalMs,

    signSettlement(_order, settlement): Promise<SettlementSignature> {
      return Promise.resolve({ signer: o.key.address, signature: o.key.signer.sign(attestation(settlement)) })
    },

    verifySettlementSignature(_order, settlement, relayerId, sig) {
      const expected = o.members.get(relayerId)
      return Promise.resolve(expected !== undefined && sig.signer === expected && ed25519Verify(pubkeyHex(expected), attestation(settlement), sig.signature))
    },

    async submitSettlement(order, settlement, signatures, signal): Promise<SubmitOutcome> {
      const key = `release:${order.id}`
      const stored = await o.store.getSubmission(chain, key)
      if (stored?.state === 'confirmed') return { status: 'submitted', txHash: (stored.payload as Payload).signature, confirmations: 1 }
      if (stored?.state === 'already-settled' || (await released(order.id))) return { status: 'already-settled' }
      if (stored?.state === 'pending') {
        // Sent before a crash: the same bytes again, then follow them to their end.
        await rpc.sendTransaction((stored.payload as Payload).wire, { encoding: 'base64', skipPreflight: true }).send().catch(() => undefined)
        return track(order.id, key, stored.payload as Payload, signal)
      }
      // Our own watcher read the vault pay this order out (a release by code older than frozen receipts, too): no new round.
      if ((await o.store.listOrderEvents(chain, order.id)).some((e) => e.kind === 'VaultReleased')) return { status: 'already-settled' }
      const { m, signers: allowed } = await vaultInfo()
      if (!allowed.includes(o.key.address)) throw new QantaraError('CONFIG_INVALID', `${o.key.address} is not a signer of multisig ${c.multisig}`)
      // The round: this relayer pays and advances its nonce. Co-signers come first from the members whose
      // attestations of this settlement are in, then the others; a set where one fails is replaced by the next.
      const attested = [...new Set(signatures.map((s) => s.signer))].filter((a) => a !== o.key.address && allowed.includes(address(a))).map((a) => address(a))
      const candidates = [...attested, ...allowed.filter((a) => a !== o.key.address && !attested.includes(a))]
      const idOf = new Map([...o.members].map(([id, a]) => [a, id]))
      const nonce = await currentNonce()
      let tx: Transaction | undefined
      let signed: Record<string, string> = {}
      const failures: string[] = []
      for (const others of combinations(candidates, m - 1)) {
        const attempt = await buildReleaseTransaction(releaseOf(order, settlement), await authority([o.key.address, ...others], nonceAccount, nonce))
        const message = Buffer.from(attempt.messageBytes).toString('base64')
        const answers = await Promise.all(others.map(async (a) => {
          const id = idOf.get(a)
          if (!id) return `no quorum member has Solana address ${a}`
          try {
            const sig = await o.cosign(id, order.id, message, signal)
            if (sig.signer !== a || !ed25519Verify(pubkeyHex(a), Uint8Array.from(attempt.messageBytes), sig.signature)) return `${id} answered with a signature that does not verify`
            return sig
          } catch (err) {
            return `${id}: ${(err as Error).message}`
          }
        }))
        const problems = answers.filter((x): x is string => typeof x === 'string')
        if (problems.length === 0) {
          tx = attempt
          signed = Object.fromEntries([[o.key.address, sign(attempt)], ...others.map((a, i) => [a, (answers[i] as SettlementSignature).signature])]) as Record<string, string>
          break
        }
        failures.push(...problems)
        if (signal?.aborted) break
      }
      if (!tx) throw new QantaraError('SUBMIT_FAILED', `no ${m - 1} co-signers for the release of ${order.id}: ${[...new Set(failures)].join('; ').slice(0, 500)}`, { retryable: true })
      const full: Transaction = { ...tx, signatures: Object.fromEntries(Object.keys(tx.signatures).map((a) => [a, bytesOf(signed[a]!)])) as Transaction['signatures'] }
      const wire = getBase64EncodedWireTransaction(full)
      const payload: Payload = { wire, signature: getBase58Decoder().decode(bytesOf(signed[o.key.address]!)), nonce }
      // Stored before it is sent: after a crash the same transaction is sent again, never a second one.
      await putState(key, 'pending', payload)
      try {
        await rpc.sendTransaction(wire, { encoding: 'base64', preflightCommitment: 'confirmed' }).send()
      } catch (err) {
        log.warn({ orderId: order.id, err: (err as Error).message }, 'release refused by the node; following it')
      }
      return track(order.id, key, payload, signal)
    },

    async cosignRelease(order, settlement, message): Promise<SettlementSignature> {
      const refuse = (why: string) => new QantaraError('COSIGN_REFUSED', `release of ${order.id}: ${why}`, { details: why })
      // Released already, by this relayer's store: never a second release, even where no receipt was frozen (review L2).
      await assertReleaseOpen(o.store, chain, order.id)
      if (message.length > (MAX_MESSAGE_BYTES * 4) / 3 + 4) throw refuse('message too long')
      const bytes = Uint8Array.from(Buffer.from(message, 'base64'))
      let compiled
      try {
        compiled = getCompiledTransactionMessageDecoder().decode(bytes)
      } catch {
        throw refuse('not a transaction message')
      }
      if (compiled.version !== 'legacy') throw refuse('not a legacy message')
      const signers = compiled.staticAccounts.slice(0, compiled.header.numSignerAccounts)
      const { m, signers: allowed } = await vaultInfo()
      if (signers.length !== m || !signers.every((s) => allowed.includes(s))) throw refuse('its signers are not a quorum of the vault\'s multisig')
      if (!signers.includes(o.key.address)) throw refuse('this relayer is not one of its signers')
      if (signers[0] === o.key.address) throw refuse('this relayer would pay for a release it did not build')
      const advance = compiled.instructions[0]
      const nonceAt = advance?.accountIndices?.[0]
      if (nonceAt === undefined) throw refuse('no durable nonce')
      const rebuilt = await buildReleaseTransaction(releaseOf(order, settlement), await authority(signers, compiled.staticAccounts[nonceAt]!, compiled.lifetimeToken))
      if (!Buffer.from(rebuilt.messageBytes).equals(Buffer.from(bytes))) throw refuse('it is not the release of this relayer\'s settlement')
      return { signer: o.key.address, signature: sign(rebuilt) }
    },
  }
}

/** Every choice of `k` items from `items`, in order, lazily: a 2-of-3 quorum tries at most two co-signers. */
function* combinations<T>(items: T[], k: number, from = 0): Generator<T[]> {
  if (k === 0) {
    yield []
    return
  }
  for (let i = from; i <= items.length - k; i++) for (const rest of combinations(items, k - 1, i + 1)) yield [items[i]!, ...rest]
}

/** SPL Token account layout: mint at 0, owner at 32, amount at 64, state at 108 (0 uninitialized, 1 initialized, 2 frozen). */
const TOKEN_ACCOUNT_BYTES = 165
const FROZEN = 2

/** Whether a receipt account, as read, is a token account of the receipt mint in the frozen state. */
function receiptFrozen(program: Address, data: Buffer, receiptMint: Address): boolean {
  return program === TOKEN_PROGRAM_ADDRESS && data.length === TOKEN_ACCOUNT_BYTES && getAddressDecoder().decode(data.subarray(0, 32)) === receiptMint && data[108] === FROZEN
}

/** Why `data`, read at the receipt mint, is not a mint only the multisig can freeze with, or undefined when it is. */
function receiptMintProblem(program: Address, data: Buffer, multisig: Address): string | undefined {
  // Mint layout: mint authority COption (tag u32 at 0, key at 4), supply u64 at 36, decimals at 44, initialized at 45, freeze authority COption (tag at 46, key at 50).
  if (program !== TOKEN_PROGRAM_ADDRESS || data.length !== 82 || data[45] !== 1) return 'is not an initialized SPL Token mint'
  const authority = (at: number) => (data.readUInt32LE(at) === 1 ? getAddressDecoder().decode(data.subarray(at + 4, at + 36)) : undefined)
  if (authority(46) !== multisig) return `has freeze authority ${authority(46) ?? '(none)'}, not the vault's multisig ${multisig}`
  if (![undefined, multisig].includes(authority(0))) return `has mint authority ${authority(0)}: give it to the multisig or to no one`
  if (data.readBigUInt64LE(36) !== 0n) return `has a supply of ${data.readBigUInt64LE(36)}, not 0`
  return undefined
}

/**
 * The vault's multisig (its m and signers) and the mint's decimals, read once: an SPL multisig cannot change.
 * The receipt mint is checked here too: a receipt anyone but the multisig could freeze would let them mark orders released.
 */
async function readVault(rpc: SolanaRpc, multisig: Address, mint: Address, receiptMint: Address): Promise<VaultInfo> {
  const account = async (a: Address) => {
    const v = (await rpc.getAccountInfo(a, { commitment: 'finalized', encoding: 'base64' }).send()).value
    if (!v) throw new QantaraError('CONFIG_INVALID', `account ${a} does not exist`)
    return { program: v.owner, data: Buffer.from(v.data[0], 'base64') }
  }
  const read = async (a: Address) => (await account(a)).data
  const ms = await read(multisig)
  if (ms.length !== 355 || ms[2] !== 1) throw new QantaraError('CONFIG_INVALID', `${multisig} is not an initialized SPL Token multisig`)
  const signers = Array.from({ length: ms[1]! }, (_, i) => getAddressDecoder().decode(ms.subarray(3 + 32 * i, 35 + 32 * i)))
  const mintData = await read(mint)
  if (mintData.length !== 82) throw new QantaraError('CONFIG_INVALID', `${mint} is not an SPL Token mint`)
  const receipts = await account(receiptMint)
  const problem = receiptMintProblem(receipts.program, receipts.data, multisig)
  if (problem) {
    throw new QantaraError('CONFIG_INVALID', `receiptMint ${receiptMint} ${problem}`, {
      details: problem,
      metaMessages: ['Create an SPL Token mint with 0 decimals whose mint and freeze authority are the vault\'s multisig, and set it as receiptMint.'],
    })
  }
  return { m: ms[0]!, signers, decimals: mintData[44]! }
}
