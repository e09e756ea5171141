import { encodeReleaseMemo } from '../src/vault/releaseMemo.js'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Secp256k1Wallet,
  createMultisigThresholdPubkey,
  pubkeyToAddress,
  type MultisigThresholdPubkey,
} from '@cosmjs/amino'
import { toBech32 } from '@cosmjs/encoding'
import { StargateClient } from '@cosmjs/stargate'
import {
  assembleRelease,
  signRelease,
  verifyReleaseSignature,
  type CosmosRelease,
  type CosmosVaultState,
} from '../adapters/cosmos/release.js'
import { startSimd, type Simd } from '../devkit/chains/simd.js'

interface Vector {
  description: string
  order: { amount: string }
  expected: { toProvider: string; toRenter: string; fee: string }
}
const { cases } = JSON.parse(
  readFileSync(new URL('./fixtures/settlement-vectors.json', import.meta.url), 'utf8'),
) as { cases: Vector[] }

let simd: Simd
let client: StargateClient
let members: { wallet: Secp256k1Wallet; address: string }[]
let multisig: MultisigThresholdPubkey
let vault: string
const random = () => crypto.getRandomValues(new Uint8Array(32))

beforeAll(async () => {
  members = await Promise.all(
    [1, 2, 3].map(async () => {
      const wallet = await Secp256k1Wallet.fromKey(random(), 'cosmos')
      return { wallet, address: (await wallet.getAccounts())[0]!.address }
    }),
  )
  const pubkeys = await Promise.all(
    members.map(async (m) => ({
      type: 'tendermint/PubKeySecp256k1',
      value: Buffer.from((await m.wallet.getAccounts())[0]!.pubkey).toString('base64'),
    })),
  )
  multisig = createMultisigThresholdPubkey(pubkeys, 2)
  vault = pubkeyToAddress(multisig, 'cosmos')
  simd = await startSimd({ accounts: [{ address: vault, coins: '100000000stake' }] })
  client = await StargateClient.connect(simd.rpcUrl)
}, 1_800_000)
afterAll(async () => {
  client?.disconnect()
  await simd?.stop()
})

const address = () => toBech32('cosmos', random().slice(0, 20))
const balance = async (a: string) => BigInt((await client.getBalance(a, 'stake')).amount)

async function state(): Promise<CosmosVaultState> {
  const { accountNumber, sequence } = await client.getSequence(vault)
  return {
    chainId: simd.chainId,
    address: vault,
    pubkey: multisig,
    accountNumber,
    sequence,
    fee: { amount: [], gas: '400000' },
    timeoutHeight: BigInt(await client.getHeight()) + 60n,
  }
}

function release(v: Vector): CosmosRelease {
  const orderId: `0x${string}` = `0x${Buffer.from(random()).toString('hex')}`
  return {
    orderId,
    memo: encodeReleaseMemo(orderId),
    denom: 'stake',
    payments: [
      { to: address(), amount: BigInt(v.expected.toProvider) },
      { to: address(), amount: BigInt(v.expected.fee) },
      { to: address(), amount: BigInt(v.expected.toRenter) },
    ],
  }
}

async function multisigned(r: CosmosRelease, signers: number[]) {
  const v = await state()
  const signed = await Promise.all(
    signers.map((i) => signRelease(members[i]!.wallet, members[i]!.address, r, v)),
  )
  for (const [j, i] of signers.entries())
    expect(
      verifyReleaseSignature((await members[i]!.wallet.getAccounts())[0]!.pubkey, r, v, signed[j]!),
    ).toBe(true)
  return assembleRelease(r, v, new Map(signers.map((i, j) => [members[i]!.address, signed[j]!])))
}

describe('Cosmos vault release on simd: amino threshold multisig', () => {
  const v = cases.find((c) => c.description === '7 of 10 slots up, 1% fee')!

  it("is refused by the chain with 1 of 3 signatures, and pays exactly the vector's split with 2 of 3", async () => {
    const r = release(v)
    const before = await balance(vault)
    const alone = await client.broadcastTx(await multisigned(r, [0])).then(
      (res) => res.code,
      (err: Error) => err.message,
    )
    expect(alone).toMatch(/code 4 .*signature verification failed/)
    expect(await balance(vault)).toBe(before)

    const result = await client.broadcastTx(await multisigned(r, [1, 2]))
    expect(result.code).toBe(0)
    expect(await Promise.all(r.payments.map((p) => balance(p.to)))).toEqual([693_000n, 7_000n, 300_000n])
    expect(await balance(vault)).toBe(before - 1_000_000n)
  })
})
