import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getAddressDecoder, getBase58Encoder, lamports, type Address } from '@solana/kit'
import { solanaChainConfigSchema } from '../adapters/solana/config.js'
import type { SolanaKey } from '../adapters/solana/keys.js'
import { solanaRuntime } from '../adapters/solana/runtime.js'
import { generateEd25519 } from '../src/ed25519.js'
import { createSafeHttp } from '../src/http/safeHttp.js'
import { silentLogger } from '../src/log.js'
import { createMetrics } from '../src/metrics.js'
import { ProviderRegistry } from '../src/registry/registry.js'
import { ComputeChallenges } from '../src/relay/computeChallenge.js'
import { Prober } from '../src/relay/prober.js'
import { Relayer } from '../src/relay/relayer.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { encodeOrderMemo, vaultOrderId } from '../src/vault/orderMemo.js'
import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { startSolanaVault, type SolanaVaultBed } from '../devkit/chains/solanaVault.js'
import { waitFor } from '../devkit/waitFor.js'
import { inProcessAgent } from './support/inProcessRelayer.js'
import { SCRIPT, SCRIPTED_SLOT, scriptedDevice } from './support/scriptedDevice.js'

const SLOTS = BigInt(SCRIPT.length)

// One relayer and a 1-of-1 vault on litesvm: the real watcher, runtime, prober, compute challenges and release.
const CHAIN = 'solana:litesvm'
const logger = silentLogger()
const addressOf = (hex: string): Address => getAddressDecoder().decode(Buffer.from(hex.slice(2), 'hex'))
const identity = generateEd25519().signer
const key: SolanaKey = (() => {
  const { signer } = generateEd25519()
  return { address: addressOf(signer.publicKey), signer }
})()
let bed: SolanaVaultBed
let nonceAccount: Address
const closers: (() => Promise<void>)[] = []

beforeAll(async () => {
  bed = await startSolanaVault([key.address], 1)
  bed.rpc.svm.airdrop(key.address, lamports(10_000_000_000n))
  nonceAccount = await bed.nonceAccount(key.address)
})
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined)
  await bed?.stop()
})

function relayerOn(store: SqliteStore): { relayer: Relayer; registry: ProviderRegistry } {
  const httpOptions = { timeoutMs: 2_500, maxBytes: 64 * 1024, allowPrivate: true }
  const http = createSafeHttp(httpOptions)
  const metrics = createMetrics()
  const registry = new ProviderRegistry({ store, http, httpOptions, logger })
  const config = solanaChainConfigSchema.parse({
    family: 'solana',
    id: CHAIN,
    rpc: [bed.rpc.url],
    vault: bed.vault,
    mint: bed.mint,
    multisig: bed.multisig,
    receiptMint: bed.receiptMint,
    nonceAccount,
    key: { env: 'UNUSED' },
    pollIntervalMs: 50,
  })
  const runtime = solanaRuntime({
    config,
    key,
    members: new Map([['relayer-1', key.address]]),
    store,
    logger,
    cosign: () => Promise.reject(new Error('a 1-of-1 vault needs no co-signer')),
    pollMs: 20,
  })
  // A quorum of one: its own schedule is the quorum's, and settlement reads it.
  const compute = new ComputeChallenges({
    relayerId: 'relayer-1',
    identity,
    perMillion: 1_000_000,
    store,
    http,
    httpOptions,
    logger,
  })
  const prober = new Prober({
    relayerId: 'relayer-1',
    identity,
    relayerKeys: new Map([['relayer-1', identity.publicKey]]),
    store,
    registry,
    http,
    httpOptions,
    concurrency: 4,
    perHostConcurrency: 2,
    maxSkewMs: 30_000,
    metrics,
    logger,
    compute,
  })
  const relayer = new Relayer({
    relayerId: 'relayer-1',
    members: ['relayer-1'],
    threshold: 1,
    acceptTestGpuClasses: true,
    challengeSchedule: (order, slot) => compute.sizeFor(order, slot) !== undefined,
    feeBps: 0,
    graceSeconds: 1,
    store,
    chains: [runtime],
    prober,
    metrics,
    logger,
    tickMs: 50,
  })
  return { relayer, registry }
}

const tokens = async (owner: Address) => {
  const acc = bed.rpc.svm.getAccount(await bed.tokenAccount(owner))
  return acc.exists ? Buffer.from(acc.data).readBigUInt64LE(64) : 0n
}

describe('verified GPU uptime on a vault chain (Solana, litesvm)', () => {
  it('releases the provider only the slot its ordered GPU was there and computing; every other slot goes back to the renter', async () => {
    const store = new SqliteStore(':memory:')
    const { relayer, registry } = relayerOn(store)
    const provider = generateEd25519().signer
    const payout = addressOf(generateEd25519().signer.publicKey)
    let start = 0n
    const slotOf = () => Math.floor((Date.now() / 1000 - Number(start)) / SCRIPTED_SLOT)
    const agent = await inProcessAgent(
      provider,
      {
        payout: { [CHAIN]: payout },
        prices: [
          {
            chain: CHAIN,
            token: bed.mint,
            gpuClass: REFERENCE_ORDER_GPU.class,
            perSlot: '1000',
            slotLength: SCRIPTED_SLOT,
          },
        ],
      },
      scriptedDevice(slotOf),
    )
    closers.push(agent.close)
    await registry.submit(agent.agent.record)

    const amount = 7_000_000n
    const renter = await bed.renter(amount)
    start = BigInt(Math.ceil(Date.now() / 1000)) + 2n
    const salt = crypto.getRandomValues(new Uint8Array(16))
    const orderId = vaultOrderId(CHAIN, renter.wallet.address, salt)
    const memo = encodeOrderMemo({
      salt,
      providerId: provider.publicKey,
      start,
      slotLength: SCRIPTED_SLOT,
      slots: SCRIPT.length,
      gpu: REFERENCE_ORDER_GPU,
      amount,
      payout: Uint8Array.from(getBase58Encoder().encode(payout)),
    })
    await bed.send([bed.transferChecked(renter, bed.vault, amount), bed.memo(memo)])
    const stop = new AbortController()
    const running = relayer.run(stop.signal)
    try {
      const record = await waitFor(
        async () => {
          const r = await store.getOrder(orderId)
          return r?.state === 'settled' ? r : undefined
        },
        'the order to be released',
        90_000,
        100,
      )
      expect(record.uptime).toBe(SCRIPT.map(([, status]) => status).join(''))
      expect(record.settlement).toMatchObject({
        upSlots: 1,
        toProvider: amount / SLOTS,
        toRenter: amount - amount / SLOTS,
      })
      // What the vault paid, read from the token accounts.
      expect(await tokens(payout)).toBe(amount / SLOTS)
      expect(await tokens(renter.wallet.address)).toBe(amount - amount / SLOTS)
    } finally {
      stop.abort()
      await running
      await store.close()
    }
  }, 150_000)
})
