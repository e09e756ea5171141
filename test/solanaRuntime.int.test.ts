import { threeShares } from './support/threeShares.js'
import { ed25519 } from '@noble/curves/ed25519'
import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  generateKeyPairSigner,
  getAddressDecoder,
  getAddressEncoder,
  getBase58Encoder,
  lamports,
  type Address,
  type KeyPairSigner,
  type SignatureDictionary,
  type Transaction,
  type TransactionPartialSigner,
} from '@solana/kit'
import { fetchNonce } from '@solana-program/system'
import {
  TOKEN_PROGRAM_ADDRESS,
  findAssociatedTokenPda,
  getCreateAssociatedTokenIdempotentInstructionAsync,
  getCreateAssociatedTokenInstruction,
  getFreezeAccountInstruction,
  getTransferCheckedInstruction,
} from '@solana-program/token'
import { solanaChainConfigSchema } from '../adapters/solana/config.js'
import { solanaRpc } from '../adapters/solana/rpc.js'
import type { SolanaKey } from '../adapters/solana/keys.js'
import { buildReleaseTransaction, receiptOwner, releaseReceipt } from '../adapters/solana/release.js'
import { solanaRuntime } from '../adapters/solana/runtime.js'
import type {
  ChainEvent,
  Checkpoint,
  VaultChainRuntime,
  Cosigner,
  SettlementSignature,
} from '../src/chains.js'
import { generateEd25519 } from '../src/ed25519.js'
import { isQantaraError } from '../src/errors.js'
import { silentLogger } from '../src/log.js'
import type { OrderTerms } from '../src/order.js'
import type { Settlement } from '../src/settlement.js'
import { SqliteStore } from '../src/store/sqlite.js'
import type { Store } from '../src/store/store.js'
import { encodeOrderMemo } from '../src/vault/orderMemo.js'
import { encodeReleaseMemo } from '../src/vault/releaseMemo.js'
import { DECIMALS, startSolanaVault, type SolanaVaultBed } from '../devkit/chains/solanaVault.js'
import { tempDir } from './support/tmp.js'
import {
  vaultRuntimeContract,
  type VaultReleased,
  type VaultRuntimeBed,
} from './support/vaultRuntimeContract.js'
import { codeOf, refusalOf } from './support/errors.js'

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
let runtimes: VaultChainRuntime[] = []
let stores: Store[] = []

beforeAll(async () => {
  bed = await startSolanaVault(
    keys.map((k) => k.address),
    2,
  )
  for (const k of keys) {
    bed.rpc.svm.airdrop(k.address, lamports(10_000_000_000n))
    nonces.push(await bed.nonceAccount(k.address))
  }
  stores = keys.map((_, i) => new SqliteStore(`${tmp.dir}/r${i}.db`))
  runtimes = stores.map((store, i) => runtime(i, store))
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
  return runtimes[ids.indexOf(id)]!.cosignRelease(order, settlement, message)
}

function runtime(i: number, store: Store, receiptMint = bed.receiptMint): VaultChainRuntime {
  const config = solanaChainConfigSchema.parse({
    family: 'solana',
    id: CHAIN,
    rpc: [bed.rpc.url],
    vault: bed.vault,
    mint: bed.mint,
    multisig: bed.multisig,
    receiptMint,
    nonceAccount: nonces[i],
    key: { env: 'UNUSED' },
    feeRecipient,
    pollIntervalMs: 100,
  })
  return solanaRuntime({
    config,
    key: keys[i]!,
    members: new Map(ids.map((id, j) => [id, keys[j]!.address])),
    store,
    logger: silentLogger(),
    cosign,
    pollMs: 20,
  })
}

const tokens = async (owner: Address) => {
  const acc = bed.rpc.svm.getAccount(await bed.tokenAccount(owner))
  return acc.exists ? Buffer.from(acc.data).readBigUInt64LE(64) : 0n
}

/** A deposit the watcher turns into an order, and its 70% settlement with a 1% fee. */
async function settledOrder(amount = 1_000_000n): Promise<{ order: OrderTerms; settlement: Settlement }> {
  const renter = await bed.renter(amount)
  const memo = {
    salt: crypto.getRandomValues(new Uint8Array(16)),
    providerId: `0x${'cd'.repeat(32)}` as const,
    start: 1_800_000_000n,
    slotLength: 60,
    slots: 10,
    gpu: REFERENCE_ORDER_GPU,
    amount,
    payout: Uint8Array.from(getBase58Encoder().encode(provider)),
  }
  const signature = await bed.send([
    bed.transferChecked(renter, bed.vault, amount),
    bed.memo(encodeOrderMemo(memo)),
  ])
  const opened = (await runtimes[0]!.watcher.poll(undefined)).events.find(
    (e): e is Extract<ChainEvent, { kind: 'OrderOpened' }> =>
      e.kind === 'OrderOpened' && e.txHash === signature,
  )!
  const fee = amount / 100n
  const toProvider = ((amount - fee) * 7n) / 10n
  const settlement: Settlement = {
    orderId: opened.order.id,
    toProvider,
    toRenter: amount - fee - toProvider,
    fee,
    feeRecipient,
    upSlots: 7,
    totalSlots: 10,
    heartbeatRoot: `0x${'11'.repeat(32)}`,
  }
  agreed.set(opened.order.id, { order: opened.order, settlement })
  return { order: opened.order, settlement }
}

async function attestations(
  order: OrderTerms,
  settlement: Settlement,
  who: number[],
): Promise<SettlementSignature[]> {
  return Promise.all(who.map((i) => runtimes[i]!.signSettlement(order, settlement)))
}

/** The receipt's token account state byte (1 initialized, 2 frozen), or undefined while it does not exist. */
const receiptState = async (orderId: OrderTerms['id']) => {
  const acc = bed.rpc.svm.getAccount(await releaseReceipt(orderId, bed.receiptMint))
  return acc.exists ? acc.data[108] : undefined
}
const outcomeOf = (signature: string) => bed.rpc.ledger.find((r) => r.signature === signature)?.err

/** `owner`'s own token account of the receipt mint: anyone may open one, and it can only ever hold 0. */
const receiptAccount = async (owner: Address) =>
  (await findAssociatedTokenPda({ owner, mint: bed.receiptMint, tokenProgram: TOKEN_PROGRAM_ADDRESS }))[0]

/** Someone with SOL and no part in the vault: what anyone on the chain can do. */
async function stranger(): Promise<KeyPairSigner> {
  const s = await generateKeyPairSigner()
  bed.rpc.svm.airdrop(s.address, lamports(1_000_000_000n))
  return s
}

/** A relayer's key as a kit signer: what a release of old code, built by hand, is signed with. */
const partialSigner = (k: SolanaKey): TransactionPartialSigner => ({
  address: k.address,
  signTransactions: (txs) =>
    Promise.resolve(
      txs.map(
        (tx) =>
          ({
            [k.address]: Uint8Array.from(
              Buffer.from(k.signer.sign(Uint8Array.from(tx.messageBytes)).slice(2), 'hex'),
            ),
          }) as SignatureDictionary,
      ),
    ),
})

/** Relayer `i`'s watcher reads the vault up to now into its store, as its watch loop does. */
async function readVault(i: number) {
  for (;;) {
    const from = await stores[i]!.getCheckpoint(CHAIN)
    const r = await runtimes[i]!.watcher.poll(from)
    await stores[i]!.commitEvents(CHAIN, r.events, r.checkpoint)
    if (from && r.checkpoint.hash === from.hash) return
  }
}

/** The release of `order`'s settlement by the round of relayer-1 and `cosigner`, on relayer-1's nonce: what relayer-1 would ask it to sign. */
async function releaseMessage(order: OrderTerms, s: Settlement, cosigner: number) {
  const nonce = (await fetchNonce(solanaRpc({ urls: [bed.rpc.url], timeoutMs: 5_000 }), nonces[0]!)).data
    .blockhash
  const tx = await buildReleaseTransaction(
    threeShares({
      orderId: order.id,
      provider,
      toProvider: s.toProvider,
      renter: order.renter as Address,
      toRenter: s.toRenter,
      feeRecipient,
      fee: s.fee,
    }),
    {
      vault: bed.vault,
      multisig: bed.multisig,
      mint: bed.mint,
      receiptMint: bed.receiptMint,
      decimals: DECIMALS,
      signers: [keys[0]!.address, keys[cosigner]!.address],
      nonceAccount: nonces[0]!,
      nonce,
    },
  )
  return Buffer.from(tx.messageBytes).toString('base64')
}

/** The vault's releases of an order on chain, read by relayer-2's watcher from the start. */
async function releasesOf(orderId: string): Promise<VaultReleased[]> {
  const events: ChainEvent[] = []
  for (let from: Checkpoint | undefined; ;) {
    const r = await runtimes[1]!.watcher.poll(from)
    events.push(...r.events)
    if (from && r.checkpoint.hash === from.hash) break
    from = r.checkpoint
  }
  return events.filter((e): e is VaultReleased => e.kind === 'VaultReleased' && e.orderId === orderId)
}

const contractBed: VaultRuntimeBed = {
  ids,
  addresses: () => keys.map((k) => k.address),
  runtimes: () => runtimes,
  stores: () => stores,
  runtime: (i, store) => runtime(i, store),
  down,
  provider,
  feeRecipient,
  settledOrder,
  balance: (owner) => tokens(owner as Address),
  vaultBalance: () => tokens(bed.multisig),
  readAll: async () => {
    for (const i of [0, 1, 2]) await readVault(i)
  },
  releasesOf,
  releaseRequest: releaseMessage,
  requestsAfterRelease: async (order, s, cosigner) => [await releaseMessage(order, s, cosigner)],
  notARelease: { request: Buffer.from('not a message').toString('base64'), why: 'not a transaction message' },
  crashStore: () => new SqliteStore(`${tmp.dir}/crash.db`),
  vaultWrites: () => Promise.resolve(bed.rpc.ledger.length),
  storedTxHash: (payload) => (payload as { signature: string }).signature,
  signersOf: (txHash) => bed.rpc.ledger.find((r) => r.signature === txHash)!.accountKeys.slice(0, 2),
}

describe('Solana runtime on litesvm: the vault runtime contract', () => {
  vaultRuntimeContract(contractBed)
})

describe('Solana runtime on litesvm: the settlement statement a receipt carries', () => {
  it("gives the statement a receipt carries: each member's attestation checks against it with a plain ed25519 verifier, and against no other settlement", async () => {
    const { order, settlement } = await settledOrder()
    const statement = runtimes[0]!.settlementStatement(settlement)
    expect(statement).toMatchObject({ scheme: 'ed25519' })
    const message = new TextEncoder().encode((statement as { message: string }).message)
    const other = runtimes[0]!.settlementStatement({ ...settlement, toProvider: settlement.toProvider + 1n })
    for (const sig of await attestations(order, settlement, [0, 1, 2])) {
      const key = Uint8Array.from(getAddressEncoder().encode(sig.signer as Address))
      expect(ed25519.verify(sig.signature.slice(2), message, key)).toBe(true)
      const otherMessage = new TextEncoder().encode((other as { message: string }).message)
      expect(ed25519.verify(sig.signature.slice(2), otherMessage, key)).toBe(false)
    }
  })
})

describe('Solana runtime on litesvm: attestations, co-signed releases, once-only', () => {
  it('co-signs only a release it signs as one of a quorum of the multisig, not as the payer', async () => {
    const { order, settlement } = await settledOrder()
    const value = (await fetchNonce(solanaRpc({ urls: [bed.rpc.url], timeoutMs: 5_000 }), nonces[0]!)).data
      .blockhash
    const release = (s: Settlement, signers: Address[], nonceAccount = nonces[0]!) =>
      buildReleaseTransaction(
        threeShares({
          orderId: order.id,
          provider,
          toProvider: s.toProvider,
          renter: order.renter as Address,
          toRenter: s.toRenter,
          feeRecipient,
          fee: s.fee,
        }),
        {
          vault: bed.vault,
          multisig: bed.multisig,
          mint: bed.mint,
          receiptMint: bed.receiptMint,
          decimals: DECIMALS,
          signers,
          nonceAccount,
          nonce: value,
        },
      ).then((tx) => Buffer.from(tx.messageBytes).toString('base64'))
    const peer = runtimes[1]!
    const honest = await release(settlement, [keys[0]!.address, keys[1]!.address])
    expect((await peer.cosignRelease(order, settlement, honest)).signer).toBe(keys[1]!.address)
    expect(
      await codeOf(
        peer.cosignRelease(
          order,
          settlement,
          await release(settlement, [keys[1]!.address, keys[0]!.address], nonces[1]),
        ),
      ),
    ).toBe('COSIGN_REFUSED:this relayer would pay for a release it did not build')
    expect(
      await codeOf(
        peer.cosignRelease(order, settlement, await release(settlement, [keys[0]!.address, feeRecipient])),
      ),
    ).toBe("COSIGN_REFUSED:its signers are not a quorum of the vault's multisig")
    expect(
      await codeOf(
        peer.cosignRelease(
          order,
          settlement,
          await release(settlement, [keys[0]!.address, keys[2]!.address]),
        ),
      ),
    ).toBe('COSIGN_REFUSED:this relayer is not one of its signers')
  })

  describe('the release receipt (security review 2026-12, section 2)', () => {
    it('still releases an order whose receipt a stranger created first, paying exactly the split', async () => {
      const { order, settlement } = await settledOrder()
      const attacker = await stranger()
      const receipt = await releaseReceipt(order.id, bed.receiptMint)
      const created = await bed.send([
        getCreateAssociatedTokenInstruction({
          payer: attacker,
          ata: receipt,
          owner: receiptOwner(order.id),
          mint: bed.receiptMint,
        }),
      ])
      expect(outcomeOf(created)).toBeNull()
      expect(await receiptState(order.id)).toBe(1)
      const [providerBefore, feeBefore, vaultBefore] = [
        await tokens(provider),
        await tokens(feeRecipient),
        await tokens(bed.multisig),
      ]

      const outcome = await runtimes[0]!.submitSettlement(
        order,
        settlement,
        await attestations(order, settlement, [0, 1]),
      )
      expect(outcome.status).toBe('submitted')
      expect([
        (await tokens(provider)) - providerBefore,
        (await tokens(feeRecipient)) - feeBefore,
        await tokens(order.renter as Address),
      ]).toEqual([settlement.toProvider, settlement.fee, settlement.toRenter])
      expect(vaultBefore - (await tokens(bed.multisig))).toBe(order.amount)
      expect(await receiptState(order.id)).toBe(2)
      expect(
        await runtimes[1]!.submitSettlement(order, settlement, await attestations(order, settlement, [1, 2])),
      ).toEqual({ status: 'already-settled' })
    })

    it("still releases when the stranger also pads the receipt with lamports and empty transfers and pre-creates the payees' accounts", async () => {
      const { order, settlement } = await settledOrder()
      const attacker = await stranger()
      const receipt = await releaseReceipt(order.id, bed.receiptMint)
      const own = await bed.tokenAccount(attacker.address)
      const padded = await bed.send([
        getCreateAssociatedTokenInstruction({
          payer: attacker,
          ata: receipt,
          owner: receiptOwner(order.id),
          mint: bed.receiptMint,
        }),
        await getCreateAssociatedTokenIdempotentInstructionAsync({
          payer: attacker,
          owner: attacker.address,
          mint: bed.receiptMint,
        }),
        await getCreateAssociatedTokenIdempotentInstructionAsync({
          payer: attacker,
          owner: attacker.address,
          mint: bed.mint,
        }),
        // A receipt-mint account of its own holds 0 (the supply is 0): an empty transfer is all it can send.
        getTransferCheckedInstruction({
          source: await receiptAccount(attacker.address),
          mint: bed.receiptMint,
          destination: receipt,
          authority: attacker,
          amount: 0n,
          decimals: 0,
        }),
        getTransferCheckedInstruction({
          source: own,
          mint: bed.mint,
          destination: bed.vault,
          authority: attacker,
          amount: 0n,
          decimals: DECIMALS,
        }),
        bed.lamportsTo(receipt, 1_000_000n),
        await getCreateAssociatedTokenIdempotentInstructionAsync({
          payer: attacker,
          owner: provider,
          mint: bed.mint,
        }),
        await getCreateAssociatedTokenIdempotentInstructionAsync({
          payer: attacker,
          owner: order.renter as Address,
          mint: bed.mint,
        }),
      ])
      expect(outcomeOf(padded)).toBeNull()
      expect(await receiptState(order.id)).toBe(1)
      const [providerBefore, feeBefore, renterBefore, vaultBefore] = [
        await tokens(provider),
        await tokens(feeRecipient),
        await tokens(order.renter as Address),
        await tokens(bed.multisig),
      ]

      const outcome = await runtimes[1]!.submitSettlement(
        order,
        settlement,
        await attestations(order, settlement, [1, 2]),
      )
      expect(outcome.status).toBe('submitted')
      expect([
        (await tokens(provider)) - providerBefore,
        (await tokens(feeRecipient)) - feeBefore,
        (await tokens(order.renter as Address)) - renterBefore,
      ]).toEqual([settlement.toProvider, settlement.fee, settlement.toRenter])
      expect(vaultBefore - (await tokens(bed.multisig))).toBe(order.amount)
      expect(await receiptState(order.id)).toBe(2)
    })

    it("refuses a stranger's freeze of a receipt, by its own authority or by the multisig's without its signers", async () => {
      const { order, settlement } = await settledOrder()
      const attacker = await stranger()
      const receipt = await releaseReceipt(order.id, bed.receiptMint)
      await bed.send([
        getCreateAssociatedTokenInstruction({
          payer: attacker,
          ata: receipt,
          owner: receiptOwner(order.id),
          mint: bed.receiptMint,
        }),
      ])
      const ownAuthority = await bed.send([
        getFreezeAccountInstruction({ account: receipt, mint: bed.receiptMint, owner: attacker }),
      ])
      const asMultisig = await bed.send([
        getFreezeAccountInstruction({
          account: receipt,
          mint: bed.receiptMint,
          owner: bed.multisig,
          multiSigners: [attacker],
        }),
      ])
      // SPL Token's OwnerMismatch (4) for a key that is not the freeze authority; the multisig without m of its signers is
      // MissingRequiredSignature, which the test server names by its number (7).
      expect([outcomeOf(ownAuthority), outcomeOf(asMultisig)]).toEqual([
        { InstructionError: [0, { Custom: 4 }] },
        { InstructionError: [0, '7'] },
      ])
      expect(await receiptState(order.id)).toBe(1)
      expect(
        (
          await runtimes[2]!.submitSettlement(
            order,
            settlement,
            await attestations(order, settlement, [2, 0]),
          )
        ).status,
      ).toBe('submitted')
      expect(await receiptState(order.id)).toBe(2)
    })

    it('fails a second release of the order from another round and nonce on chain, and reports it settled because its receipt is frozen', async () => {
      const { order, settlement } = await settledOrder()
      expect(
        (
          await runtimes[0]!.submitSettlement(
            order,
            settlement,
            await attestations(order, settlement, [0, 1]),
          )
        ).status,
      ).toBe('submitted')
      const paid = [
        await tokens(provider),
        await tokens(feeRecipient),
        await tokens(order.renter as Address),
        await tokens(bed.multisig),
      ]
      const round = [keys[2]!, keys[0]!]
      const second = await buildReleaseTransaction(
        threeShares({
          orderId: order.id,
          provider,
          toProvider: settlement.toProvider,
          renter: order.renter as Address,
          toRenter: settlement.toRenter,
          feeRecipient,
          fee: settlement.fee,
        }),
        {
          vault: bed.vault,
          multisig: bed.multisig,
          mint: bed.mint,
          receiptMint: bed.receiptMint,
          decimals: DECIMALS,
          signers: round.map((k) => k.address),
          nonceAccount: nonces[2]!,
          nonce: (await fetchNonce(solanaRpc({ urls: [bed.rpc.url], timeoutMs: 5_000 }), nonces[2]!)).data
            .blockhash,
        },
      )
      const signatureOf = (a: string) =>
        Uint8Array.from(
          Buffer.from(
            round
              .find((k) => k.address === a)!
              .signer.sign(Uint8Array.from(second.messageBytes))
              .slice(2),
            'hex',
          ),
        )
      const signed: Transaction = {
        ...second,
        signatures: Object.fromEntries(
          Object.keys(second.signatures).map((a) => [a, signatureOf(a)]),
        ) as Transaction['signatures'],
      }
      // Instruction 0 advances the nonce, 1 creates the receipt (idempotent), 2 freezes it: InvalidState (13), it is frozen already.
      expect(outcomeOf(bed.rpc.execute(signed))).toEqual({ InstructionError: [2, { Custom: 13 }] })
      expect([
        await tokens(provider),
        await tokens(feeRecipient),
        await tokens(order.renter as Address),
        await tokens(bed.multisig),
      ]).toEqual(paid)
      expect(await receiptState(order.id)).toBe(2)
      // A relayer with no record of the release finds it by the frozen receipt alone.
      expect(
        await runtime(2, new SqliteStore(`${tmp.dir}/fresh.db`)).submitSettlement(
          order,
          settlement,
          await attestations(order, settlement, [2, 0]),
        ),
      ).toEqual({ status: 'already-settled' })
    })

    it('refuses to start releasing with a receipt mint the multisig does not alone control', async () => {
      const { order, settlement } = await settledOrder()
      const attacker = await stranger()
      const cases = {
        strangerFreezes: await bed.createMint(0, bed.multisig, attacker.address),
        noFreeze: await bed.createMint(0, bed.multisig),
        strangerMints: await bed.createMint(0, attacker.address, bed.multisig),
        vaultMint: bed.mint,
      }
      // With a mint the stranger can freeze, it freezes this order's receipt first: that must not read as released.
      const forged = (
        await findAssociatedTokenPda({
          owner: receiptOwner(order.id),
          mint: cases.strangerFreezes,
          tokenProgram: TOKEN_PROGRAM_ADDRESS,
        })
      )[0]
      const frozen = await bed.send([
        getCreateAssociatedTokenInstruction({
          payer: attacker,
          ata: forged,
          owner: receiptOwner(order.id),
          mint: cases.strangerFreezes,
        }),
        getFreezeAccountInstruction({ account: forged, mint: cases.strangerFreezes, owner: attacker }),
      ])
      expect(outcomeOf(frozen)).toBeNull()
      const refusals = await Promise.all(
        Object.values(cases).map(async (m) =>
          codeOf(
            runtime(0, new SqliteStore(`${tmp.dir}/mint-${m}.db`), m).submitSettlement(
              order,
              settlement,
              await attestations(order, settlement, [0, 1]),
            ),
          ),
        ),
      )
      expect(Object.fromEntries(Object.keys(cases).map((k, i) => [k, refusals[i]]))).toEqual({
        strangerFreezes: `CONFIG_INVALID:has freeze authority ${attacker.address}, not the vault's multisig ${bed.multisig}`,
        noFreeze: `CONFIG_INVALID:has freeze authority (none), not the vault's multisig ${bed.multisig}`,
        strangerMints: `CONFIG_INVALID:has mint authority ${attacker.address}: give it to the multisig or to no one`,
        vaultMint: expect.stringMatching(/^CONFIG_INVALID:has freeze authority \(none\)/) as string,
      })
      expect(await receiptState(order.id)).toBeUndefined()
      expect(await tokens(order.renter as Address)).toBe(0n)
    })
  })

  describe('co-signers check their own store first (security review 2026-12, L2)', () => {
    it('refuses to co-sign a second release of an order its watcher saw released by old code that froze no receipt, and no second payout lands', async () => {
      const { order, settlement } = await settledOrder()
      // Old code's release: the split, paid by two of the multisig under the order's memo, and no receipt frozen.
      const legacy = await bed.send([
        ...(
          await Promise.all(
            (
              [
                [provider, settlement.toProvider],
                [feeRecipient, settlement.fee],
                [order.renter as Address, settlement.toRenter],
              ] as const
            ).map(async ([owner, amount]) => [
              await getCreateAssociatedTokenIdempotentInstructionAsync({
                payer: bed.payer,
                owner,
                mint: bed.mint,
              }),
              getTransferCheckedInstruction({
                source: bed.vault,
                mint: bed.mint,
                destination: await bed.tokenAccount(owner),
                authority: bed.multisig,
                amount,
                decimals: DECIMALS,
                multiSigners: [partialSigner(keys[0]!), partialSigner(keys[2]!)],
              }),
            ]),
          )
        ).flat(),
        bed.memo(encodeReleaseMemo(order.id)),
      ])
      expect(outcomeOf(legacy)).toBeNull()
      expect(await receiptState(order.id)).toBeUndefined()
      await Promise.all([readVault(1), readVault(2)])
      expect((await stores[1]!.listOrderEvents(CHAIN, order.id)).map((e) => [e.kind, e.txHash])).toEqual([
        ['OrderOpened', expect.any(String)],
        ['VaultReleased', legacy],
      ])
      const paid = [
        await tokens(provider),
        await tokens(feeRecipient),
        await tokens(order.renter as Address),
        await tokens(bed.multisig),
      ]

      // relayer-1 lags: it never read the release, and no receipt is frozen, so it would release the order again.
      expect(
        await refusalOf(
          runtimes[1]!.cosignRelease(order, settlement, await releaseMessage(order, settlement, 1)),
        ),
      ).toEqual(['COSIGN_REFUSED', 'ALREADY_RELEASED', false])
      expect(
        await refusalOf(
          runtimes[2]!.cosignRelease(order, settlement, await releaseMessage(order, settlement, 2)),
        ),
      ).toEqual(['COSIGN_REFUSED', 'ALREADY_RELEASED', false])
      const sent = bed.rpc.ledger.length
      const err = await runtimes[0]!
        .submitSettlement(order, settlement, await attestations(order, settlement, [0, 1]))
        .catch((e: unknown) => e)
      expect(isQantaraError(err, 'SUBMIT_FAILED') && err.message).toMatch(
        /relayer-2: release of 0x[0-9a-f]{64}: the vault already released it in/,
      )
      expect(bed.rpc.ledger.length).toBe(sent)
      expect([
        await tokens(provider),
        await tokens(feeRecipient),
        await tokens(order.renter as Address),
        await tokens(bed.multisig),
      ]).toEqual(paid)
      // Once its own watcher reads the vault's payout, the submitter starts no round at all.
      await readVault(0)
      expect(
        await runtimes[0]!.submitSettlement(order, settlement, await attestations(order, settlement, [0, 1])),
      ).toEqual({ status: 'already-settled' })
      expect(bed.rpc.ledger.length).toBe(sent)
    })
  })
})
