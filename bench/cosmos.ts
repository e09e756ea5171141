// Gas of a Cosmos vault release on simd, beside the same three sends from one plain key in the same run.
// Run: npm run build && node dist/bench/cosmos.js
import { Secp256k1Wallet, createMultisigThresholdPubkey, pubkeyToAddress } from '@cosmjs/amino'
import { toBech32 } from '@cosmjs/encoding'
import { DirectSecp256k1Wallet } from '@cosmjs/proto-signing'
import { SigningStargateClient, StargateClient } from '@cosmjs/stargate'
import {
  assembleRelease,
  releaseMessages,
  signRelease,
  type CosmosRelease,
} from '../adapters/cosmos/release.js'
import { startSimd } from '../devkit/chains/simd.js'
import { encodeReleaseMemo } from '../src/vault/releaseMemo.js'

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n))
const FEE = { amount: [], gas: '1000000' }

/** A release of three shares to fresh accounts, as every order's first release pays them. */
const release = (): CosmosRelease => {
  const orderId: `0x${string}` = `0x${Buffer.from(random(32)).toString('hex')}`
  return {
    orderId,
    denom: 'stake',
    payments: [693_000n, 7_000n, 300_000n].map((amount) => ({ to: toBech32('cosmos', random(20)), amount })),
    memo: encodeReleaseMemo(orderId),
  }
}

async function vault(n: number, m: number) {
  const members = await Promise.all(
    Array.from({ length: n }, async () => {
      const wallet = await Secp256k1Wallet.fromKey(random(32), 'cosmos')
      const [account] = await wallet.getAccounts()
      return { wallet, address: account!.address, pubkey: Buffer.from(account!.pubkey).toString('base64') }
    }),
  )
  const pubkey = createMultisigThresholdPubkey(
    members.map((x) => ({ type: 'tendermint/PubKeySecp256k1', value: x.pubkey })),
    m,
  )
  return { members, pubkey, address: pubkeyToAddress(pubkey, 'cosmos'), m }
}

async function main(): Promise<void> {
  const plain = await DirectSecp256k1Wallet.fromKey(random(32), 'cosmos')
  const [sender] = await plain.getAccounts()
  const vaults = [await vault(3, 2), await vault(5, 3)]
  const simd = await startSimd({
    accounts: [sender!, ...vaults].map((a) => ({ address: a.address, coins: '100000000000stake' })),
  })
  const client = await StargateClient.connect(simd.rpcUrl)
  const signing = await SigningStargateClient.connectWithSigner(simd.rpcUrl, plain, {
    broadcastPollIntervalMs: 200,
  })
  try {
    const gasUsed = async (hash: string) => {
      for (;;) {
        const tx = await client.getTx(hash)
        if (tx) {
          if (tx.code !== 0) throw new Error(`tx ${hash} failed: ${tx.rawLog}`)
          return tx.gasUsed
        }
        await new Promise((ok) => setTimeout(ok, 200))
      }
    }
    // Warm-up and baseline: the release's three MsgSends, signed by one plain key.
    const baseline: bigint[] = []
    for (let i = 0; i < 3; i++) {
      const r = release()
      const msgs = releaseMessages(r, sender!.address)
      baseline.push(
        (await signing.signAndBroadcast(sender!.address, msgs, FEE, encodeReleaseMemo(r.orderId))).gasUsed,
      )
    }
    const releaseGas = async (v: (typeof vaults)[number]) => {
      const figures: bigint[] = []
      for (let i = 0; i < 3; i++) {
        const r = release()
        const { accountNumber, sequence } = await client.getSequence(v.address)
        const state = {
          chainId: simd.chainId,
          address: v.address,
          pubkey: v.pubkey,
          accountNumber,
          sequence,
          fee: FEE,
          timeoutHeight: BigInt(await client.getHeight()) + 50n,
        }
        const signers = v.members.slice(0, v.m)
        const sigs = await Promise.all(signers.map((x) => signRelease(x.wallet, x.address, r, state)))
        figures.push(
          await gasUsed(
            await client.broadcastTxSync(
              assembleRelease(r, state, new Map(signers.map((x, j) => [x.address, sigs[j]!]))),
            ),
          ),
        )
      }
      return figures.at(-1)!
    }
    const [two, three] = [await releaseGas(vaults[0]!), await releaseGas(vaults[1]!)]
    const base = baseline.at(-1)!
    const row = (what: string, gas: bigint, against: string) =>
      console.log(`| ${what} | ${gas.toLocaleString('en-US')} | ${against} |`)
    console.log('| operation | gas used | baseline (same run) |\n|---|---:|---|')
    row(
      'release 2-of-3 (3 sends to fresh accounts)',
      two,
      `the same 3 sends from one plain key: ${base.toLocaleString('en-US')}`,
    )
    row(
      'release 3-of-5 (3 sends to fresh accounts)',
      three,
      `release 2-of-3 in this run: ${two.toLocaleString('en-US')}`,
    )
    console.log(
      `\n2-of-3 multisig over one key: +${(two - base).toLocaleString('en-US')} gas; 3-of-5 over 2-of-3: +${(three - two).toLocaleString('en-US')} gas; the default gasLimit of 400,000 leaves ${(400_000n - three).toLocaleString('en-US')} spare at 3-of-5`,
    )
  } finally {
    client.disconnect()
    signing.disconnect()
    await simd.stop()
  }
}

await main()
