import { threeShares, type ThreeShares } from './support/threeShares.js'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  generateKeyPairSigner,
  getTransactionEncoder,
  lamports,
  partiallySignTransaction,
  type Address,
  type KeyPairSigner,
  type Transaction,
} from '@solana/kit'
import { fetchNonce } from '@solana-program/system'
import { buildReleaseTransaction, releaseReceipt, type VaultRelease } from '../adapters/solana/release.js'
import { solanaRpc } from '../adapters/solana/rpc.js'
import { DECIMALS, startSolanaVault, type SolanaVaultBed } from '../devkit/chains/solanaVault.js'

interface Vector {
  description: string
  order: { amount: string }
  expected: { toProvider: string; toRenter: string; fee: string }
}
const { cases } = JSON.parse(
  readFileSync(new URL('./fixtures/settlement-vectors.json', import.meta.url), 'utf8'),
) as { cases: Vector[] }

let bed: SolanaVaultBed
let relayers: KeyPairSigner[]
const nonces = new Map<Address, Address>()

beforeAll(async () => {
  relayers = await Promise.all([1, 2, 3].map(() => generateKeyPairSigner()))
  bed = await startSolanaVault(
    relayers.map((r) => r.address),
    2,
  )
  // Each relayer pays its rounds' fees and advances its own durable nonce.
  for (const r of relayers) {
    bed.rpc.svm.airdrop(r.address, lamports(10_000_000_000n))
    nonces.set(r.address, await bed.nonceAccount(r.address))
  }
})
afterAll(() => bed?.stop())

const tokens = (owner: Address) =>
  bed.tokenAccount(owner).then((a) => {
    const acc = bed.rpc.svm.getAccount(a)
    return acc.exists ? Buffer.from(acc.data).readBigUInt64LE(64) : 0n
  })

/** A deposit of `amount` into the vault and the release of one settlement vector's split of it. */
async function order(v: Vector): Promise<ThreeShares> {
  const renter = await bed.renter(BigInt(v.order.amount))
  await bed.send([bed.transferChecked(renter, bed.vault, BigInt(v.order.amount))])
  const [provider, feeRecipient] = [await generateKeyPairSigner(), await generateKeyPairSigner()]
  return threeShares({
    orderId: `0x${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex')}`,
    provider: provider.address,
    toProvider: BigInt(v.expected.toProvider),
    renter: renter.wallet.address,
    toRenter: BigInt(v.expected.toRenter),
    feeRecipient: feeRecipient.address,
    fee: BigInt(v.expected.fee),
  })
}

/** The release for the round signed by `signers`, at its fee payer's current nonce. */
async function release(r: VaultRelease, signers: KeyPairSigner[]): Promise<Transaction> {
  const nonceAccount = nonces.get(signers[0]!.address)!
  const nonce = (await fetchNonce(solanaRpc({ urls: [bed.rpc.url], timeoutMs: 5_000 }), nonceAccount)).data
    .blockhash
  return buildReleaseTransaction(r, {
    vault: bed.vault,
    multisig: bed.multisig,
    mint: bed.mint,
    receiptMint: bed.receiptMint,
    decimals: DECIMALS,
    signers: signers.map((s) => s.address),
    nonceAccount,
    nonce,
  })
}

/** Each signer signs the message bytes on its own; the submitter puts the signatures together, in the message's signer order. */
async function cosign(tx: Transaction, signers: KeyPairSigner[]): Promise<Transaction> {
  const signed = await Promise.all(signers.map((s) => partiallySignTransaction([s.keyPair], tx)))
  return {
    ...tx,
    signatures: Object.assign(
      { ...tx.signatures },
      ...signed.map((t) => Object.fromEntries(Object.entries(t.signatures).filter(([, sig]) => sig))),
    ) as Transaction['signatures'],
  }
}

const landed = (signature: string) => bed.rpc.ledger.find((r) => r.signature === signature)?.err === null
/** The receipt's token account state byte: 1 initialized, 2 frozen; undefined while it does not exist. */
const receiptState = async (orderId: VaultRelease['orderId']) => {
  const acc = bed.rpc.svm.getAccount(await releaseReceipt(orderId, bed.receiptMint))
  return acc.exists ? acc.data[108] : undefined
}
/** A release's size on the wire: a transaction must fit one 1232-byte packet. */
const wireBytes = (tx: Transaction) => getTransactionEncoder().encode(tx).length

describe('Solana vault release on litesvm: SPL Token multisig, durable nonce', () => {
  const v = cases.find((c) => c.description === '7 of 10 slots up, 1% fee')!

  it('builds the same message bytes on every relayer', async () => {
    const r = await order(v)
    const [a, b] = [await release(r, relayers.slice(0, 2)), await release(r, relayers.slice(0, 2))]
    expect(Buffer.from(a.messageBytes).equals(Buffer.from(b.messageBytes))).toBe(true)
    expect(Object.keys(a.signatures)).toEqual(relayers.slice(0, 2).map((s) => s.address))
  })

  it("is refused by the chain with 1 of 3 signatures, and pays exactly the vector's split with 2 of 3", async () => {
    const r = await order(v)
    const vaultBefore = await tokens(bed.multisig)
    const alone = await cosign(await release(r, relayers.slice(0, 1)), relayers.slice(0, 1))
    expect(landed(bed.rpc.execute(alone))).toBe(false)
    expect(await tokens(bed.multisig)).toBe(vaultBefore)

    const quorum = await cosign(await release(r, relayers.slice(1, 3)), relayers.slice(1, 3))
    expect(landed(bed.rpc.execute(quorum))).toBe(true)
    expect([await tokens(r.provider), await tokens(r.feeRecipient), await tokens(r.renter)]).toEqual([
      693_000n,
      7_000n,
      300_000n,
    ])
    expect(await tokens(bed.multisig)).toBe(vaultBefore - 1_000_000n)
    expect(await receiptState(r.orderId)).toBe(2)
  })

  it('pays an order once: a second release from another round and nonce fails whole, and so does a stale nonce', async () => {
    const r = await order(cases.find((c) => c.description === 'rounding goes to the renter')!)
    const first = await cosign(await release(r, relayers.slice(0, 2)), relayers.slice(0, 2))
    const second = await cosign(await release(r, [relayers[2]!, relayers[0]!]), [relayers[2]!, relayers[0]!])
    const usedNonce = (
      await fetchNonce(
        solanaRpc({ urls: [bed.rpc.url], timeoutMs: 5_000 }),
        nonces.get(relayers[0]!.address)!,
      )
    ).data.blockhash
    expect(landed(bed.rpc.execute(first))).toBe(true)
    const paid = [await tokens(r.provider), await tokens(r.feeRecipient), await tokens(r.renter)]
    expect(paid).toEqual([330_000n, 3_333n, 666_668n])
    const refused = bed.rpc.execute(second)
    expect(landed(refused)).toBe(false)
    // Instruction 2 freezes the receipt: InvalidState (13), it is frozen already.
    expect(bed.rpc.ledger.find((x) => x.signature === refused)?.err).toEqual({
      InstructionError: [2, { Custom: 13 }],
    })
    expect([await tokens(r.provider), await tokens(r.feeRecipient), await tokens(r.renter)]).toEqual(paid)

    // relayer 0's nonce moved with `first`: a message still holding the value `first` used can never land.
    const other = await order(v)
    const stale = await cosign(
      await buildReleaseTransaction(other, {
        vault: bed.vault,
        multisig: bed.multisig,
        mint: bed.mint,
        receiptMint: bed.receiptMint,
        decimals: DECIMALS,
        signers: relayers.slice(0, 2).map((s) => s.address),
        nonceAccount: nonces.get(relayers[0]!.address)!,
        nonce: usedNonce,
      }),
      relayers.slice(0, 2),
    )
    expect(landed(bed.rpc.execute(stale))).toBe(false)
    expect(await tokens(other.provider)).toBe(0n)
  })

  it('fits one packet: a 2-of-3 release with all three shares, and 4 of 11 signers at most', async () => {
    const r = await order(v)
    expect(wireBytes(await release(r, relayers.slice(0, 2)))).toBe(995)
    const members = await Promise.all(Array.from({ length: 5 }, () => generateKeyPairSigner()))
    const sized = (m: number) =>
      buildReleaseTransaction(r, {
        vault: bed.vault,
        multisig: bed.multisig,
        mint: bed.mint,
        receiptMint: bed.receiptMint,
        decimals: DECIMALS,
        signers: members.slice(0, m).map((s) => s.address),
        nonceAccount: nonces.get(relayers[0]!.address)!,
        nonce: bed.vault,
      }).then(wireBytes)
    expect([await sized(3), await sized(4), await sized(5)]).toEqual([1095, 1195, 1295])
  })
})

describe('Solana vault release on litesvm under a 3-of-5 multisig', () => {
  it('lands within one packet and freezes the receipt with three multisig signers', async () => {
    const members = await Promise.all(Array.from({ length: 5 }, () => generateKeyPairSigner()))
    const wide = await startSolanaVault(
      members.map((m) => m.address),
      3,
    )
    try {
      const round = [members[4]!, members[0]!, members[2]!]
      wide.rpc.svm.airdrop(round[0]!.address, lamports(10_000_000_000n))
      const nonceAccount = await wide.nonceAccount(round[0]!.address)
      const renter = await wide.renter(1_000_000n)
      await wide.send([wide.transferChecked(renter, wide.vault, 1_000_000n)])
      const [provider, feeRecipient] = [await generateKeyPairSigner(), await generateKeyPairSigner()]
      const r: ThreeShares = threeShares({
        orderId: `0x${'5a'.repeat(32)}`,
        provider: provider.address,
        toProvider: 693_000n,
        renter: renter.wallet.address,
        toRenter: 300_000n,
        feeRecipient: feeRecipient.address,
        fee: 7_000n,
      })
      const nonce = (await fetchNonce(solanaRpc({ urls: [wide.rpc.url], timeoutMs: 5_000 }), nonceAccount))
        .data.blockhash
      const tx = await cosign(
        await buildReleaseTransaction(r, {
          vault: wide.vault,
          multisig: wide.multisig,
          mint: wide.mint,
          receiptMint: wide.receiptMint,
          decimals: DECIMALS,
          signers: round.map((m) => m.address),
          nonceAccount,
          nonce,
        }),
        round,
      )
      expect(wireBytes(tx)).toBe(1095)
      const signature = wide.rpc.execute(tx)
      expect(wide.rpc.ledger.find((x) => x.signature === signature)?.err).toBeNull()
      const data = (account: Address) => {
        const acc = wide.rpc.svm.getAccount(account)
        return acc.exists ? Buffer.from(acc.data) : Buffer.alloc(0)
      }
      const balance = async (owner: Address) => data(await wide.tokenAccount(owner)).readBigUInt64LE(64)
      expect([
        await balance(provider.address),
        await balance(feeRecipient.address),
        await balance(renter.wallet.address),
        await balance(wide.multisig),
      ]).toEqual([693_000n, 7_000n, 300_000n, 0n])
      expect(data(await releaseReceipt(r.orderId, wide.receiptMint))[108]).toBe(2)
    } finally {
      await wide.stop()
    }
  })
})
