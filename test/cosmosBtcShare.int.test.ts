import { createMultisigThresholdPubkey, pubkeyToAddress } from '@cosmjs/amino'
import { fromBech32, toBech32 } from '@cosmjs/encoding'
import { DirectSecp256k1Wallet } from '@cosmjs/proto-signing'
import { SigningStargateClient } from '@cosmjs/stargate'
import { signCosmosQuote } from '../adapters/cosmos/btcQuote.js'
import { cosmosChainConfigSchema } from '../adapters/cosmos/config.js'
import { cosmosKeyFromSecret } from '../adapters/cosmos/keys.js'
import { cosmosRuntime } from '../adapters/cosmos/runtime.js'
import { cosmosSolverChain } from '../adapters/cosmos/solverChain.js'
import { startSimd } from '../devkit/chains/simd.js'
import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import type { Cosigner } from '../src/chains.js'
import { silentLogger } from '../src/log.js'
import { SqliteStore } from '../src/store/sqlite.js'
import type { Store } from '../src/store/store.js'
import { encodeOrderMemo, vaultOrderId } from '../src/vault/orderMemo.js'
import { runWatchLoop } from '../src/watchLoop.js'
import { vaultBtcShareContract, type VaultBtcBed } from './support/vaultBtcShareContract.js'

const USDC = 'ibc/498A0751C798A0D9A389AA3691123DADA57DAA4FE165D5C75894505B876BA6E4'
const CHAIN = 'cosmos:qantara-local'
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n))
const newKey = () =>
  cosmosKeyFromSecret({ kind: 'hex', value: Buffer.from(random(32)).toString('hex') }, 'cosmos')

/** simd: a vault under a 2-of-3 amino multisig of the relayers' keys, taking BTC orders up to 0.1 BTC; fees are free. */
async function cosmosBed(cosign: Cosigner, dir: string): Promise<VaultBtcBed> {
  const keys = [newKey(), newKey(), newKey()]
  const solverKey = newKey()
  const ids = ['relayer-1', 'relayer-2', 'relayer-3']
  const base64 = (pubkey: Uint8Array) => Buffer.from(pubkey).toString('base64')
  const multisig = createMultisigThresholdPubkey(
    keys.map((k) => ({ type: 'tendermint/PubKeySecp256k1', value: base64(k.pubkey) })),
    2,
  )
  const vault = pubkeyToAddress(multisig, 'cosmos')
  const [provider, feeRecipient] = [toBech32('cosmos', random(20)), toBech32('cosmos', random(20))]
  const wallet = await DirectSecp256k1Wallet.fromKey(random(32), 'cosmos')
  const [renter] = await wallet.getAccounts()
  const simd = await startSimd({
    chainId: 'qantara-local',
    accounts: [{ address: renter!.address, coins: `100000000000stake,100000000000${USDC}` }],
    // An order memo carrying a quote is about 350 characters; simd's default allows 256.
    maxMemoCharacters: 512,
  })
  const client = await SigningStargateClient.connectWithSigner(simd.rpcUrl, wallet, {
    broadcastPollIntervalMs: 200,
  })
  const shared = {
    family: 'cosmos',
    id: CHAIN,
    rpc: [simd.rpcUrl],
    vault,
    denoms: [USDC],
    gasPrice: '0stake',
    pollIntervalMs: 100,
    timeoutBlocks: 20,
    multisig: { threshold: 2, pubkeys: multisig.value.pubkeys.map((p) => p.value) },
    key: { env: 'UNUSED' },
    maxPayoutSats: '10000000',
  }
  const watching = new AbortController()
  const stores: Store[] = []
  const runtimes = []
  for (const [i, key] of keys.entries()) {
    const store = new SqliteStore(`${dir}/r${i}.db`)
    stores.push(store)
    const runtime = cosmosRuntime({
      config: cosmosChainConfigSchema.parse({ ...shared, feeRecipient }),
      key,
      members: new Map(ids.map((id, j) => [id, base64(keys[j]!.pubkey)])),
      store,
      logger: silentLogger(),
      cosign,
      pollMs: 100,
    })
    runtimes.push(runtime)
    void runWatchLoop(runtime.watcher, { store, logger: silentLogger(), intervalMs: 100 }, watching.signal)
  }
  const balance = async (owner: string) => BigInt((await client.getBalance(owner, USDC)).amount)
  return {
    chain: CHAIN,
    runtimes,
    stores,
    provider,
    feeRecipient,
    solver: cosmosSolverChain(
      cosmosChainConfigSchema.parse(shared),
      { family: 'cosmos', address: solverKey.address, key: solverKey },
      undefined,
      silentLogger(),
    ),
    async depositQuoted(o) {
      const salt = random(16)
      const orderId = vaultOrderId(CHAIN, renter!.address, salt)
      const terms = { ...o.quote, script: Uint8Array.from(Buffer.from(o.quote.script, 'hex')) }
      const signature = signCosmosQuote(
        o.forged ? newKey() : solverKey,
        { chain: CHAIN, vault, orderId, token: USDC },
        terms,
      )
      const memo = encodeOrderMemo({
        salt,
        providerId: `0x${'cd'.repeat(32)}`,
        start: o.start,
        slotLength: 60,
        slots: 10,
        gpu: REFERENCE_ORDER_GPU,
        amount: o.amount,
        payout: fromBech32(provider).data,
        quote: { ...terms, solver: solverKey.pubkey, signature },
      })
      const sent = await client.signAndBroadcast(
        renter!.address,
        [
          {
            typeUrl: '/cosmos.bank.v1beta1.MsgSend',
            value: {
              fromAddress: renter!.address,
              toAddress: vault,
              amount: [{ denom: USDC, amount: o.amount.toString() }],
            },
          },
        ],
        { amount: [], gas: '400000' },
        memo,
      )
      if (sent.code !== 0) throw new Error(`deposit failed: ${sent.rawLog ?? sent.code}`)
    },
    async caughtUp(store) {
      const head = BigInt(await client.getHeight())
      for (let i = 0; i < 300; i++) {
        if (((await store.getCheckpoint(CHAIN))?.height ?? -1n) >= head) return
        await new Promise((ok) => setTimeout(ok, 100))
      }
      throw new Error('the vault was not read up to its head')
    },
    balance,
    vaultBalance: () => balance(vault),
    async stop() {
      watching.abort()
      await new Promise((ok) => setTimeout(ok, 200))
      client.disconnect()
      for (const s of stores) await s.close()
      await simd.stop()
    },
  }
}

vaultBtcShareContract('Cosmos (simd + btcd)', cosmosBed)
