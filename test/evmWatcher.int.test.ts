import { REFERENCE_GPU_WORD } from '../devkit/gpu/referenceGpu.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import {
  encodeAbiParameters,
  encodeFunctionData,
  keccak256,
  parseAbiParameters,
  toHex,
  zeroAddress,
  type Hex,
  type LocalAccount,
} from 'viem'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { EvmWatcher } from '../adapters/evm/watcher.js'
import { RpcPool } from '../adapters/evm/rpcPool.js'
import { viemChain } from '../adapters/evm/chain.js'
import type { ChainEvent } from '../src/chains.js'
import { silentLogger } from '../src/log.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { runWatchLoop } from '../src/watchLoop.js'
import { isQantaraError } from '../src/errors.js'
import {
  deployMarket,
  relayerKeys,
  startEvmTestbed,
  type Deployment,
  type EvmTestbed,
} from '../devkit/evmTestbed.js'
import {
  deadRpcUrl,
  startGarbageRpc,
  startLaggingProxy,
  startRangeLimitedProxy,
} from './support/rpcFaults.js'
import { tempDir } from './support/tmp.js'

const CHAIN = 'eip155:31337' as const
const logger = silentLogger()
const tmp = tempDir()
let bed: EvmTestbed
let relayers: LocalAccount[]

beforeAll(async () => {
  bed = await startEvmTestbed()
  relayers = relayerKeys(1)
})
afterAll(async () => {
  await bed?.stop()
  tmp.cleanup()
})

function watcher(
  d: Deployment,
  urls: string[],
  o: { confirmations?: number; logRange?: number; startBlock?: bigint } = {},
) {
  const pool = new RpcPool({ chain: viemChain(CHAIN, urls), urls, timeoutMs: 2_000, logger })
  return new EvmWatcher({
    chain: CHAIN,
    pool,
    escrow: d.escrow,
    startBlock: o.startBlock ?? 0n,
    confirmations: o.confirmations ?? 3,
    logRange: o.logRange ?? 2_000,
    logger,
  })
}

/** Opens `count` native-ETH orders, `perBlock` to a block, with explicit nonces so no estimate is needed. */
async function openMany(d: Deployment, count: number, perBlock: number): Promise<Hex[]> {
  const account = bed.account(3)
  const payout = bed.account(8).address
  let nonce = await bed.publicClient.getTransactionCount({ address: account.address, blockTag: 'pending' })
  const block = await bed.publicClient.getBlock()
  const ids: Hex[] = []
  const pending: Promise<Hex>[] = []
  await bed.testClient.setAutomine(false)
  try {
    for (let i = 0; i < count; i++) {
      const salt = keccak256(toHex(`order-${nonce}`))
      const order = {
        renter: account.address,
        token: zeroAddress,
        amount: 1_000n + BigInt(i),
        providerId: keccak256('0x01'),
        payout,
        start: block.timestamp + 100n,
        slotLength: 60,
        slots: 5,
        gpu: REFERENCE_GPU_WORD,
      }
      const data = encodeFunctionData({ abi: qantaraEscrowAbi, functionName: 'open', args: [order, salt] })
      const raw = await account.signTransaction({
        chainId: 31337,
        type: 'eip1559',
        to: d.escrow,
        data,
        value: order.amount,
        nonce: nonce++,
        gas: 150_000n,
        maxFeePerGas: 10n ** 11n,
        maxPriorityFeePerGas: 10n ** 9n,
      })
      pending.push(bed.publicClient.sendRawTransaction({ serializedTransaction: raw }))
      ids.push(
        keccak256(
          encodeAbiParameters(parseAbiParameters('uint256, address, address, bytes32'), [
            31337n,
            d.escrow,
            account.address,
            salt,
          ]),
        ),
      )
      if ((i + 1) % perBlock === 0) {
        await Promise.all(pending.splice(0))
        await bed.testClient.mine({ blocks: 1 })
      }
    }
    await Promise.all(pending)
    await bed.testClient.mine({ blocks: 1 })
  } finally {
    await bed.testClient.setAutomine(true)
  }
  return ids
}

/** Runs the watch loop over `store` until `done` says so. */
async function watchUntil(
  w: EvmWatcher,
  store: SqliteStore,
  done: (height: bigint) => boolean,
): Promise<void> {
  const controller = new AbortController()
  await runWatchLoop(
    w,
    {
      store,
      logger,
      intervalMs: 20,
      onProgress: (r) => {
        if (done(r.checkpoint.height)) controller.abort()
      },
    },
    controller.signal,
  )
}

async function openedIds(store: SqliteStore): Promise<string[]> {
  const events = await store.listEvents({ chain: CHAIN, limit: 100_000 })
  return events
    .map((e) => e.event)
    .filter((e): e is Extract<ChainEvent, { kind: 'OrderOpened' }> => e.kind === 'OrderOpened')
    .map((e) => e.order.id)
}

describe('EvmWatcher', () => {
  it('sees 1,000 orders over 100 blocks exactly once, resuming after a stop with no duplicate and no gap', async () => {
    const d = await deployMarket(bed, relayers, 1)
    const startBlock = await bed.publicClient.getBlockNumber({ cacheTime: 0 })
    const ids = await openMany(d, 1_000, 10)
    await bed.testClient.mine({ blocks: 3 })
    const head = await bed.publicClient.getBlockNumber({ cacheTime: 0 })
    const path = join(tmp.dir, 'resume.sqlite')

    const first = new SqliteStore(path)
    await watchUntil(
      watcher(d, [bed.anvil.rpcUrl], { logRange: 7, startBlock }),
      first,
      (h) => h >= startBlock + 50n,
    )
    const midway = await openedIds(first)
    await first.close()
    expect(midway.length).toBeGreaterThan(0)
    expect(midway.length).toBeLessThan(1_000)

    const second = new SqliteStore(path)
    await watchUntil(
      watcher(d, [bed.anvil.rpcUrl], { logRange: 7, startBlock }),
      second,
      (h) => h >= head - 3n,
    )
    const all = await openedIds(second)
    expect(all).toHaveLength(1_000)
    expect(new Set(all)).toEqual(new Set(ids))
    expect(all.slice(0, midway.length)).toEqual(midway)
    await second.close()
  })

  it('releases nothing a shallow reorg orphans, and keeps what it released before', async () => {
    const d = await deployMarket(bed, relayers, 1)
    const store = new SqliteStore(':memory:')
    const w = watcher(d, [bed.anvil.rpcUrl], { confirmations: 5 })
    const [kept] = await openMany(d, 1, 1)
    await bed.testClient.mine({ blocks: 6 })
    const finalHead = await bed.publicClient.getBlockNumber({ cacheTime: 0 })
    await watchUntil(w, store, (h) => h >= finalHead - 5n)
    expect(await openedIds(store)).toEqual([kept])

    const [orphan] = await openMany(d, 1, 1)
    await bed.testClient.mine({ blocks: 2 })
    await watchUntil(w, store, () => true)
    await bed.testClient.request({ method: 'anvil_reorg', params: [4, []] } as never)
    await bed.testClient.mine({ blocks: 10 })
    const head = await bed.publicClient.getBlockNumber({ cacheTime: 0 })
    await watchUntil(w, store, (h) => h >= head - 5n)
    expect(orphan).toBeDefined()
    expect(await openedIds(store)).toEqual([kept])
    await store.close()
  })

  it('stops with REORG_BEYOND_FINALITY when a block it released is replaced', async () => {
    const d = await deployMarket(bed, relayers, 1)
    const store = new SqliteStore(':memory:')
    const w = watcher(d, [bed.anvil.rpcUrl], { confirmations: 2 })
    await openMany(d, 1, 1)
    await bed.testClient.mine({ blocks: 3 })
    const head = await bed.publicClient.getBlockNumber({ cacheTime: 0 })
    await watchUntil(w, store, (h) => h >= head - 2n)
    await bed.testClient.request({ method: 'anvil_reorg', params: [4, []] } as never)
    const err = await runWatchLoop(w, { store, logger, intervalMs: 20 }, new AbortController().signal).catch(
      (e: unknown) => e,
    )
    expect(isQantaraError(err, 'REORG_BEYOND_FINALITY')).toBe(true)
    await store.close()
  })

  it('ignores an OrderOpened emitted by a contract that is not the configured escrow', async () => {
    const d = await deployMarket(bed, relayers, 1)
    const impostor = await deployMarket(bed, relayers, 1)
    const store = new SqliteStore(':memory:')
    const startBlock = await bed.publicClient.getBlockNumber({ cacheTime: 0 })
    await openMany(impostor, 2, 1)
    const [real] = await openMany(d, 1, 1)
    await bed.testClient.mine({ blocks: 3 })
    const head = await bed.publicClient.getBlockNumber({ cacheTime: 0 })
    await watchUntil(watcher(d, [bed.anvil.rpcUrl], { startBlock }), store, (h) => h >= head - 3n)
    expect(await openedIds(store)).toEqual([real])
    await store.close()
  })

  it('keeps going when one RPC URL is down and another answers garbage', async () => {
    const d = await deployMarket(bed, relayers, 1)
    const garbage = await startGarbageRpc()
    const store = new SqliteStore(':memory:')
    const startBlock = await bed.publicClient.getBlockNumber({ cacheTime: 0 })
    const ids = await openMany(d, 20, 4)
    await bed.testClient.mine({ blocks: 3 })
    const head = await bed.publicClient.getBlockNumber({ cacheTime: 0 })
    await watchUntil(
      watcher(d, [await deadRpcUrl(), garbage.url, bed.anvil.rpcUrl], { startBlock, logRange: 3 }),
      store,
      (h) => h >= head - 3n,
    )
    expect(new Set(await openedIds(store))).toEqual(new Set(ids))
    expect(garbage.stats.requests).toBeGreaterThan(0)
    await garbage.close()
    await store.close()
  })

  it('never reads from an RPC that serves another chain', async () => {
    const other = await startEvmTestbed({ chainId: 1 })
    const store = new SqliteStore(':memory:')
    try {
      const d = await deployMarket(bed, relayers, 1)
      const startBlock = await bed.publicClient.getBlockNumber({ cacheTime: 0 })
      const ids = await openMany(d, 3, 1)
      await bed.testClient.mine({ blocks: 3 })
      const head = await bed.publicClient.getBlockNumber({ cacheTime: 0 })
      await watchUntil(
        watcher(d, [other.anvil.rpcUrl, bed.anvil.rpcUrl], { startBlock }),
        store,
        (h) => h >= head - 3n,
      )
      expect(await openedIds(store)).toEqual(ids)
    } finally {
      await other.stop()
      await store.close()
    }
  })

  it('reads each poll from one node: an up-to-date node whose getLogs fails never pairs its head with the logs of one behind', async () => {
    const d = await deployMarket(bed, relayers, 1)
    const startBlock = await bed.publicClient.getBlockNumber({ cacheTime: 0 })
    const ids = await openMany(d, 20, 1)
    await bed.testClient.mine({ blocks: 3 })
    const head = await bed.publicClient.getBlockNumber({ cacheTime: 0 })
    const failing = await startLaggingProxy(bed.anvil.rpcUrl, { failLogs: true })
    const lagging = await startLaggingProxy(bed.anvil.rpcUrl, { behind: 12 })
    const store = new SqliteStore(':memory:')
    try {
      // The first poll takes the up-to-date node's head, fails at its getLogs and moves to the lagging node whole:
      // what that node has not seen yet waits for it, rather than being paired with the other node's head.
      const seen = watchUntil(
        watcher(d, [failing.url, lagging.url], { startBlock }),
        store,
        (h) => h >= head - 12n - 3n,
      )
      await seen
      // It catches up; every event is then read once, none skipped.
      await bed.testClient.mine({ blocks: 20 })
      await watchUntil(watcher(d, [failing.url, lagging.url], { startBlock }), store, (h) => h >= head)
      expect(new Set(await openedIds(store))).toEqual(new Set(ids))
      expect(failing.stats.refused).toBeGreaterThan(0)
    } finally {
      await failing.close()
      await lagging.close()
      await store.close()
    }
  })

  it('shrinks its log range when the RPC refuses a wide one, and still sees every event', async () => {
    const d = await deployMarket(bed, relayers, 1)
    const proxy = await startRangeLimitedProxy(bed.anvil.rpcUrl, 5)
    const store = new SqliteStore(':memory:')
    const startBlock = await bed.publicClient.getBlockNumber({ cacheTime: 0 })
    const ids = await openMany(d, 30, 2)
    await bed.testClient.mine({ blocks: 3 })
    const head = await bed.publicClient.getBlockNumber({ cacheTime: 0 })
    await watchUntil(watcher(d, [proxy.url], { startBlock, logRange: 64 }), store, (h) => h >= head - 3n)
    expect(new Set(await openedIds(store))).toEqual(new Set(ids))
    expect(proxy.stats.refused).toBeGreaterThan(0)
    await proxy.close()
    await store.close()
  })
})
