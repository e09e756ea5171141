import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getAddressDecoder, getBase58Encoder, lamports, type Address } from '@solana/kit'
import { fetchNonce } from '@solana-program/system'
import { solanaChainConfigSchema } from '../adapters/solana/config.js'
import { solanaRpc } from '../adapters/solana/rpc.js'
import type { SolanaKey } from '../adapters/solana/keys.js'
import { buildReleaseTransaction } from '../adapters/solana/release.js'
import { solanaRuntime } from '../adapters/solana/runtime.js'
import type { ChainEvent, ChainRuntime, Cosigner, SettlementSignature } from '../src/chains.js'
import { generateEd25519 } from '../src/ed25519.js'
import { isQantaraError } from '../src/errors.js'
import { silentLogger } from '../src/log.js'
import type { OrderTerms } from '../src/order.js'
import type { Settlement } from '../src/settlement.js'
import { SqliteStore } from '../src/store/sqlite.js'
import type { Store } from '../src/store/store.js'
import { encodeOrderMemo } from '../src/vault/orderMemo.js'
import { DECIMALS, startSolanaVault, type SolanaVaultBed } from './support/solanaVault.js'
import { dyingStore } from './support/dyingStore.js'
import { tempDir } from './support/tmp.js'

const CHAIN = 'solana:litesvm'
const tmp = tempDir()
const addressOf = (hex: string): Address => getAddressDecoder().decode(Buffer.from(hex.slice(2), 'hex'))
const keys: SolanaKey[] = [1, 2, 3].map(() => {
  const { signer } = generateEd25519()
  return { address: addressOf(signer.publicKey), signer }
})
const ids = ['relayer-1', 'relayer-2', 'relayer-3']
let bed: SolanaVaultBed
const nonces: Address[] = []
const feeRecipient = addressOf(generateEd25519().signer.publicKey)
const provider = addressOf(generateEd25519().signer.publicKey)
/** The orders and settlements each relayer holds: what its co-signing checks a message against. */
const agreed = new Map<string, { order: OrderTerms; settlement: Settlement }>()
let runtimes: ChainRuntime[] = []

beforeAll(async () => {
  bed = await startSolanaVault(keys.map((k) => k.address), 2)
  for (const k of keys) {
    bed.rpc.svm.airdrop(k.address, lamports(10_000_000_000n))
    nonces.push(await bed.nonceAccount(k.address))
  }
  runtimes = keys.map((_, i) => runtime(i, new SqliteStore(`${tmp.dir}/r${i}.db`)))
})
afterAll(async () => {
  await bed?.stop()
  tmp.cleanup()
})

/** Peers answer in process here; over HTTP it is GET /v1/peer/cosign (the devnet test runs that path). */
const down = new Set<string>()
const cosign: Cosigner = (id, orderId, message) => {
  if (down.has(id)) return Promise.reject(new Error(`${id} is down`))
  const { order, settlement } = agreed.get(orderId)!
  return runtimes[ids.indexOf(id)]!.cosignRelease!(order, settlement, message)
}

function runtime(i: number, store: Store): ChainRuntime {
  const config = solanaChainConfigSchema.parse({ family: 'solana', id: CHAIN, rpc: [bed.rpc.url], vault: bed.vault, mint: bed.mint, multisig: bed.multisig, nonceAccount: nonces[i], key: { env: 'UNUSED' }, feeRecipient, pollIntervalMs: 100 })
  return solanaRuntime({ config, key: keys[i]!, members: new Map(ids.map((id, j) => [id, keys[j]!.address])), store, logger: silentLogger(), cosign, pollMs: 20 })
}

const tokens = async (owner: Address) => {
  const acc = bed.rpc.svm.getAccount(await bed.tokenAccount(owner))
  return acc.exists ? Buffer.from(acc.data).readBigUInt64LE(64) : 0n
}

/** A deposit the watcher turns into an order, and its 70% settlement with a 1% fee. */
async function settledOrder(amount = 1_000_000n): Promise<{ order: OrderTerms; settlement: Settlement }> {
  const renter = await bed.renter(amount)
  const memo = { salt: crypto.getRandomValues(new Uint8Array(16)), providerId: `0x${'cd'.repeat(32)}` as const, start: 1_800_000_000n, slotLength: 60, slots: 10, amount, payout: Uint8Array.from(getBase58Encoder().encode(provider)) }
  const signature = await bed.send([bed.transferChecked(renter, bed.vault, amount), bed.memo(encodeOrderMemo(memo))])
  const opened = (await runtimes[0]!.watcher.poll(undefined)).events.find((e): e is Extract<ChainEvent, { kind: 'OrderOpened' }> => e.kind === 'OrderOpened' && e.txHash === signature)!
  const fee = amount / 100n
  const toProvider = ((amount - fee) * 7n) / 10n
  const settlement: Settlement = { orderId: opened.order.id, toProvider, toRenter: amount - fee - toProvider, fee, feeRecipient, upSlots: 7, totalSlots: 10, heartbeatRoot: `0x${'11'.repeat(32)}` }
  agreed.set(opened.order.id, { order: opened.order, settlement })
  return { order: opened.order, settlement }
}

async function attestations(order: OrderTerms, settlement: Settlement, who: number[]): Promise<SettlementSignature[]> {
  return Promise.all(who.map((i) => runtimes[i]!.signSettlement(order, settlement)))
}

const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (err: unknown) => (isQantaraError(err) ? `${err.code}:${err.details ?? ''}` : String(err)))

describe('Solana runtime on litesvm: attestations, co-signed releases, once-only', () => {
  it('verifies attestations from the right member key only', async () => {
    const { order, settlement } = await settledOrder()
    const [a] = await attestations(order, settlement, [1])
    expect(await runtimes[0]!.verifySettlementSignature(order, settlement, 'relayer-2', a!)).toBe(true)
    expect(await runtimes[0]!.verifySettlementSignature(order, settlement, 'relayer-3', a!)).toBe(false)
    expect(await runtimes[0]!.verifySettlementSignature(order, { ...settlement, toProvider: settlement.toProvider + 1n }, 'relayer-2', a!)).toBe(false)
  })

  it('releases the split once: the submitter builds, a peer co-signs, a later submitter finds it done', async () => {
    const { order, settlement } = await settledOrder()
    const before = [await tokens(provider), await tokens(feeRecipient)]
    const outcome = await runtimes[0]!.submitSettlement(order, settlement, await attestations(order, settlement, [0, 1]))
    expect(outcome.status).toBe('submitted')
    expect([await tokens(provider) - before[0]!, await tokens(feeRecipient) - before[1]!, await tokens(order.renter as Address)]).toEqual([settlement.toProvider, settlement.fee, settlement.toRenter])
    expect(await runtimes[2]!.submitSettlement(order, settlement, await attestations(order, settlement, [2, 1]))).toEqual({ status: 'already-settled' })
    expect(await tokens(provider) - before[0]!).toBe(settlement.toProvider)

    const released = (await runtimes[1]!.watcher.poll(undefined)).events.filter((e): e is Extract<ChainEvent, { kind: 'VaultReleased' }> => e.kind === 'VaultReleased')
    expect(released).toEqual([expect.objectContaining({ kind: 'VaultReleased', orderId: order.id, txHash: outcome.status === 'submitted' ? outcome.txHash : '' })])
    const payments = released[0]!.payments
    expect(new Map(payments.map((p) => [p.owner, p.amount]))).toEqual(new Map([[provider, settlement.toProvider], [feeRecipient, settlement.fee], [order.renter, settlement.toRenter]]))
  })

  it('replaces a co-signer that is down by the next member, and says which failed when none is left', async () => {
    const { order, settlement } = await settledOrder()
    down.add('relayer-2')
    try {
      const outcome = await runtimes[0]!.submitSettlement(order, settlement, await attestations(order, settlement, [0, 1]))
      expect(outcome.status).toBe('submitted')
      const tx = bed.rpc.ledger.find((r) => outcome.status === 'submitted' && r.signature === outcome.txHash)!
      expect(tx.accountKeys.slice(0, 2)).toEqual([keys[0]!.address, keys[2]!.address])
      const next = await settledOrder()
      down.add('relayer-3')
      expect(await codeOf(runtimes[0]!.submitSettlement(next.order, next.settlement, await attestations(next.order, next.settlement, [0, 1])))).toBe('SUBMIT_FAILED:')
    } finally {
      down.clear()
    }
  })

  it('co-signs only the exact release of its own settlement, as a signer, not as the payer', async () => {
    const { order, settlement } = await settledOrder()
    const value = (await fetchNonce(solanaRpc({ url: bed.rpc.url, timeoutMs: 5_000 }), nonces[0]!)).data.blockhash
    const release = (s: Settlement, signers: Address[], nonceAccount = nonces[0]!) => buildReleaseTransaction(
      { orderId: order.id, provider, toProvider: s.toProvider, renter: order.renter as Address, toRenter: s.toRenter, feeRecipient, fee: s.fee },
      { vault: bed.vault, multisig: bed.multisig, mint: bed.mint, decimals: DECIMALS, signers, nonceAccount, nonce: value },
    ).then((tx) => Buffer.from(tx.messageBytes).toString('base64'))
    const peer = runtimes[1]!
    const honest = await release(settlement, [keys[0]!.address, keys[1]!.address])
    expect((await peer.cosignRelease!(order, settlement, honest)).signer).toBe(keys[1]!.address)
    const greedy = await release({ ...settlement, toProvider: settlement.toProvider + 1n, toRenter: settlement.toRenter - 1n }, [keys[0]!.address, keys[1]!.address])
    expect(await codeOf(peer.cosignRelease!(order, settlement, greedy))).toBe('COSIGN_REFUSED:it is not the release of this relayer\'s settlement')
    expect(await codeOf(peer.cosignRelease!(order, settlement, await release(settlement, [keys[1]!.address, keys[0]!.address], nonces[1])))).toBe('COSIGN_REFUSED:this relayer would pay for a release it did not build')
    expect(await codeOf(peer.cosignRelease!(order, settlement, await release(settlement, [keys[0]!.address, feeRecipient])))).toBe('COSIGN_REFUSED:its signers are not a quorum of the vault\'s multisig')
    expect(await codeOf(peer.cosignRelease!(order, settlement, await release(settlement, [keys[0]!.address, keys[2]!.address])))).toBe('COSIGN_REFUSED:this relayer is not one of its signers')
    expect(await codeOf(peer.cosignRelease!(order, settlement, Buffer.from('not a message').toString('base64')))).toBe('COSIGN_REFUSED:not a transaction message')
  })

  it('after a crash between storing and sending, sends the stored release and never a second one', async () => {
    const { order, settlement } = await settledOrder()
    const store = new SqliteStore(`${tmp.dir}/crash.db`)
    // The process dies right after the signed release is stored, before it is sent.
    const dying = dyingStore(store)
    const sent = bed.rpc.ledger.length
    expect(await codeOf(runtime(0, dying).submitSettlement(order, settlement, await attestations(order, settlement, [0, 1])))).toBe('Error: killed')
    expect(bed.rpc.ledger.length).toBe(sent)
    const stored = await store.getSubmission(CHAIN, `release:${order.id}`)
    const restarted = await runtime(0, store).submitSettlement(order, settlement, await attestations(order, settlement, [0, 2]))
    expect(restarted).toMatchObject({ status: 'submitted', txHash: (stored!.payload as { signature: string }).signature })
    expect(bed.rpc.ledger.slice(sent).filter((r) => r.err === null && r.memo?.includes(order.id.slice(2)))).toHaveLength(1)
  })
})
