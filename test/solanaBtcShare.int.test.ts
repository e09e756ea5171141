import { getAddressDecoder, getBase58Encoder, lamports, type Address } from '@solana/kit'
import { signSolanaQuote } from '../adapters/solana/btcQuote.js'
import { solanaChainConfigSchema } from '../adapters/solana/config.js'
import type { SolanaKey } from '../adapters/solana/keys.js'
import { solanaRuntime } from '../adapters/solana/runtime.js'
import { solanaSolverChain } from '../adapters/solana/solverChain.js'
import { startSolanaVault } from '../devkit/chains/solanaVault.js'
import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import type { Cosigner } from '../src/chains.js'
import { generateEd25519 } from '../src/ed25519.js'
import { silentLogger } from '../src/log.js'
import { SqliteStore } from '../src/store/sqlite.js'
import type { Store } from '../src/store/store.js'
import { encodeOrderMemo, vaultOrderId } from '../src/vault/orderMemo.js'
import { runWatchLoop } from '../src/watchLoop.js'
import { vaultBtcShareContract, type VaultBtcBed } from './support/vaultBtcShareContract.js'

const CHAIN = 'solana:litesvm'
const addressOf = (hex: string): Address => getAddressDecoder().decode(Buffer.from(hex.slice(2), 'hex'))
const newKey = (): SolanaKey => {
  const { signer } = generateEd25519()
  return { address: addressOf(signer.publicKey), signer }
}

/** litesvm behind the test RPC server: a vault under a 2-of-3 SPL Token multisig, taking BTC orders up to 0.1 BTC. */
async function solanaBed(cosign: Cosigner, dir: string): Promise<VaultBtcBed> {
  const keys = [newKey(), newKey(), newKey()]
  const solverKey = newKey()
  const ids = ['relayer-1', 'relayer-2', 'relayer-3']
  const [provider, feeRecipient] = [newKey().address, newKey().address]
  const bed = await startSolanaVault(
    keys.map((k) => k.address),
    2,
  )
  // Blocks dated now, as a cluster dates them: a quote's bounds are judged at the deposit's block time.
  bed.rpc.svm.setClock(
    Object.assign(bed.rpc.svm.getClock(), { unixTimestamp: BigInt(Math.floor(Date.now() / 1000)) }),
  )
  const shared = {
    family: 'solana',
    id: CHAIN,
    rpc: [bed.rpc.url],
    vault: bed.vault,
    mint: bed.mint,
    multisig: bed.multisig,
    receiptMint: bed.receiptMint,
    key: { env: 'UNUSED' },
    maxPayoutSats: '10000000',
    pollIntervalMs: 50,
  }
  const watching = new AbortController()
  const stores: Store[] = []
  const runtimes = []
  for (const [i, k] of keys.entries()) {
    bed.rpc.svm.airdrop(k.address, lamports(10_000_000_000n))
    const nonceAccount = await bed.nonceAccount(k.address)
    const store = new SqliteStore(`${dir}/r${i}.db`)
    stores.push(store)
    const runtime = solanaRuntime({
      config: solanaChainConfigSchema.parse({ ...shared, nonceAccount, feeRecipient }),
      key: k,
      members: new Map(ids.map((id, j) => [id, keys[j]!.address])),
      store,
      logger: silentLogger(),
      cosign,
      pollMs: 20,
    })
    runtimes.push(runtime)
    void runWatchLoop(runtime.watcher, { store, logger: silentLogger(), intervalMs: 50 }, watching.signal)
  }
  const tokens = (account: Address) => {
    const acc = bed.rpc.svm.getAccount(account)
    return acc.exists ? Buffer.from(acc.data).readBigUInt64LE(64) : 0n
  }
  return {
    chain: CHAIN,
    runtimes,
    stores,
    provider,
    feeRecipient,
    solver: solanaSolverChain(
      solanaChainConfigSchema.parse(shared),
      { family: 'solana', address: solverKey.address, key: solverKey },
      undefined,
      silentLogger(),
    ),
    async depositQuoted(o) {
      const renter = await bed.renter(o.amount)
      const salt = crypto.getRandomValues(new Uint8Array(16))
      const orderId = vaultOrderId(CHAIN, renter.wallet.address, salt)
      const quote = {
        ...o.quote,
        script: Uint8Array.from(Buffer.from(o.quote.script, 'hex')),
        solver: Uint8Array.from(getBase58Encoder().encode(solverKey.address)),
      }
      const signature = signSolanaQuote(
        (o.forged ? newKey() : solverKey).signer,
        { chain: CHAIN, vault: bed.vault, orderId, token: bed.mint },
        quote,
      )
      const memo = encodeOrderMemo({
        salt,
        providerId: `0x${'cd'.repeat(32)}`,
        start: o.start,
        slotLength: 60,
        slots: 10,
        gpu: REFERENCE_ORDER_GPU,
        amount: o.amount,
        payout: Uint8Array.from(getBase58Encoder().encode(provider)),
        quote: { ...quote, signature },
      })
      await bed.send([bed.transferChecked(renter, bed.vault, o.amount), bed.memo(memo)])
    },
    // litesvm moves a slot per transaction, and every transaction the contract waits on pays into or out of the vault.
    async caughtUp(store) {
      const head = BigInt(bed.rpc.ledger.at(-1)?.slot ?? 0)
      for (let i = 0; i < 400; i++) {
        if (((await store.getCheckpoint(CHAIN))?.height ?? -1n) >= head) return
        await new Promise((ok) => setTimeout(ok, 25))
      }
      throw new Error('the vault was not read up to its head')
    },
    balance: async (owner) => tokens(await bed.tokenAccount(owner as Address)),
    vaultBalance: () => Promise.resolve(tokens(bed.vault)),
    async stop() {
      watching.abort()
      await new Promise((ok) => setTimeout(ok, 100))
      for (const s of stores) await s.close()
      await bed.stop()
    },
  }
}

vaultBtcShareContract('Solana (litesvm + btcd)', solanaBed)
