import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseEventLogs, type Address, type LocalAccount } from 'viem'
import { MAINNET } from '../adapters/bitcoin/header.js'
import { retargetHeaders } from '../adapters/bitcoin/retargetHeaders.js'
import { btcLightRelayAbi } from '../adapters/evm/contracts/artifacts/BtcLightRelay.js'
import { evmChainConfigSchema } from '../adapters/evm/config.js'
import { deployBtcRelay, deployEscrow } from '../adapters/evm/deploy.js'
import { sortAddresses } from '../adapters/evm/eip712.js'
import { evmRuntime } from '../adapters/evm/runtime.js'
import type { BtcPayoutRail, ChainRuntime } from '../src/chains.js'
import { isQantaraError } from '../src/errors.js'
import { silentLogger } from '../src/log.js'
import { RelayFeeder } from '../src/relay/relayFeeder.js'
import { submitterRank } from '../src/relay/submitterRank.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { longHeaders } from './support/btcVectors.js'
import { recordedHeaderSource } from './support/recordedHeaderSource.js'
import { startEvmTestbed, type EvmTestbed } from './support/evm.js'
import { tempDir } from './support/tmp.js'

// The recorded chain: 739872 opens epoch 367, and the 741888 retarget (epoch 368) lies inside `longHeaders.chain`.
const CONFIRMATIONS = 6
const PROOF_LENGTH = 6
const BOUNDARY = 741_888
const logger = silentLogger()
const tmp = tempDir()
let bed: EvmTestbed

beforeAll(async () => {
  bed = await startEvmTestbed()
})
afterAll(async () => {
  await bed?.stop()
  tmp.cleanup()
})

async function write(address: Address, functionName: 'genesis' | 'setAuthorized', args: readonly unknown[]) {
  const { request } = await bed.publicClient.simulateContract({ account: bed.account(0), address, abi: btcLightRelayAbi, functionName, args } as never)
  await bed.publicClient.waitForTransactionReceipt({ hash: await bed.wallet(0).writeContract(request) })
}

/** A mainnet relay at epoch 367 behind an escrow, relayer accounts 1 and 2 authorized to retarget it. */
async function market(network: 'mainnet' | 'regtest' = 'mainnet') {
  const relay = await deployBtcRelay(bed.wallet(0), bed.publicClient, network)
  await write(relay, 'genesis', [longHeaders.epochStart.hex, BigInt(longHeaders.epochStart.height), BigInt(PROOF_LENGTH)])
  for (const i of [1, 2]) await write(relay, 'setAuthorized', [bed.account(i).address, true])
  const escrow = await deployEscrow(bed.wallet(0), bed.publicClient, { relayers: sortAddresses([bed.account(1).address, bed.account(2).address]), threshold: 1, maxFeeBps: 500, reclaimGrace: 3600n, btcRelay: relay, btcConfirmations: CONFIRMATIONS })
  const source = recordedHeaderSource([longHeaders.epochStart, ...longHeaders.chain])
  const rail: BtcPayoutRail = {
    chain: 'bip122:000000000019d6689c085ae165831e93', watcher: undefined as never, confirmations: CONFIRMATIONS, pollIntervalMs: 100,
    buildProof: () => Promise.reject(new Error('not used')),
    retargetHeaders: (epoch, proofLength) => retargetHeaders(source, MAINNET, epoch, proofLength, CONFIRMATIONS),
  }
  const runtime = (account: LocalAccount): ChainRuntime => {
    const config = evmChainConfigSchema.parse({ family: 'evm', id: 'eip155:31337', rpc: [bed.anvil.rpcUrl], escrow, confirmations: 1, pollIntervalMs: 100, key: { env: 'UNUSED' }, submitter: { maxFeePerGasWei: '500000000000' } })
    return evmRuntime(config, account, new Map(), new SqliteStore(`${tmp.dir}/${escrow}-${account.address}.db`), logger)
  }
  return { relay, escrow, source, rail, runtime }
}

const epochOf = (relay: Address) => bed.publicClient.readContract({ address: relay, abi: btcLightRelayAbi, functionName: 'currentEpoch' })
async function retargetEvents(relay: Address) {
  const logs = await bed.publicClient.getLogs({ address: relay, fromBlock: 0n })
  return parseEventLogs({ abi: btcLightRelayAbi, eventName: 'Retarget', logs })
}

describe('relay feeder on anvil, with recorded mainnet headers (regtest never retargets)', () => {
  it('retargets once the headers across the boundary are deep enough, first in line first, and only once', async () => {
    const m = await market()
    const members = ['relayer-1', 'relayer-2']
    const task = `retarget:eip155:31337:367`
    const [first, second] = [...members].sort((a, b) => submitterRank(task, members, a) - submitterRank(task, members, b))
    let now = 1_000_000
    const feeder = (id: string) => new RelayFeeder({ relayerId: id, members, rail: m.rail, chains: [m.runtime(bed.account(id === 'relayer-1' ? 1 : 2))], failoverSeconds: 30, logger, nowMs: () => now })
    const [a, b] = [feeder(first!), feeder(second!)]

    // The retarget's last header is 741893; it needs 5 more blocks on top.
    m.source.tip = BOUNDARY + PROOF_LENGTH - 1 + CONFIRMATIONS - 2
    await a.tick()
    expect(await epochOf(m.relay)).toBe(367n)

    m.source.tip += 1
    await b.tick()
    expect(await epochOf(m.relay)).toBe(367n)
    await a.tick()
    expect(await epochOf(m.relay)).toBe(368n)
    expect(await bed.publicClient.readContract({ address: m.relay, abi: btcLightRelayAbi, functionName: 'epochBits', args: [368n] })).toBe(0x170984cc)

    now += 31_000
    await b.tick()
    await a.tick()
    const events = await retargetEvents(m.relay)
    expect(events.map((e) => [e.args.epoch, e.args.oldBits, e.args.newBits])).toEqual([[368n, 0x17094b6a, 0x170984cc]])
  })

  it('lands one retarget when two relayers send at the same moment', async () => {
    const m = await market()
    m.source.tip = 741_995
    const [x, y] = [m.runtime(bed.account(1)), m.runtime(bed.account(2))]
    const headers = (await m.rail.retargetHeaders(367n, PROOF_LENGTH))!
    const outcomes = await Promise.all([x.btcRelay!.retarget(367n, headers), y.btcRelay!.retarget(367n, headers)])
    expect(outcomes.map((o) => o.status).sort()).toEqual(['already-settled', 'submitted'])
    expect(await retargetEvents(m.relay)).toHaveLength(1)
    const again = await x.btcRelay!.retarget(367n, headers)
    const [mine] = outcomes
    expect(again.status === 'submitted' ? again.txHash : again.status).toBe(mine.status === 'submitted' ? mine.txHash : mine.status)
  })

  it('sends nothing for headers that do not verify, nor from an unauthorized key, nor to a regtest relay', async () => {
    const m = await market()
    m.source.tip = 741_995
    m.source.tamper = BOUNDARY + 2
    const refused = await m.rail.retargetHeaders(367n, PROOF_LENGTH).catch((err: unknown) => err)
    expect(isQantaraError(refused) && refused.code).toBe('RPC_BAD_RESPONSE')
    await new RelayFeeder({ relayerId: 'relayer-1', members: ['relayer-1'], rail: m.rail, chains: [m.runtime(bed.account(1))], failoverSeconds: 30, logger }).tick()
    expect(await epochOf(m.relay)).toBe(367n)

    m.source.tamper = undefined
    const stranger = m.runtime(bed.account(3))
    const denied = await stranger.btcRelay!.retarget(367n, (await m.rail.retargetHeaders(367n, PROOF_LENGTH))!).catch((err: unknown) => err)
    expect(isQantaraError(denied) && denied.details).toBe('NotAuthorized')
    expect(await epochOf(m.relay)).toBe(367n)

    const regtest = await market('regtest')
    expect(await regtest.runtime(bed.account(1)).btcRelay!.state()).toBeUndefined()
  })
})
