import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseEventLogs, type Address, type Hex, type LocalAccount } from 'viem'
import { MAINNET } from '../adapters/bitcoin/header.js'
import { retargetHeaders } from '../adapters/bitcoin/retargetHeaders.js'
import { btcLightRelayAbi } from '../adapters/evm/contracts/artifacts/BtcLightRelay.js'
import { evmChainConfigSchema } from '../adapters/evm/config.js'
import { deployBtcEscrow } from '../adapters/evm/deploy.js'
import { evmRuntime } from '../adapters/evm/runtime.js'
import type { EscrowChainRuntime } from '../src/chains.js'
import type { BtcPayoutRail } from '../src/btcRail.js'
import { generateEd25519 } from '../src/ed25519.js'
import { isQantaraError } from '../src/errors.js'
import { createSafeHttp } from '../src/http/safeHttp.js'
import { silentLogger } from '../src/log.js'
import { createMetrics } from '../src/metrics.js'
import { Gossip, type Peer } from '../src/peer/gossip.js'
import { peerRoutes } from '../src/peer/routes.js'
import { RelayFeeder } from '../src/relay/relayFeeder.js'
import { RetargetApprovals } from '../src/peer/retargetApprovals.js'
import { submitterRank } from '../src/relay/turns.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { longHeaders } from '../devkit/btcVectors.js'
import { listen } from './support/inProcessRelayer.js'
import { recordedHeaderSource } from './support/recordedHeaderSource.js'
import { startEvmTestbed, type EvmTestbed } from '../devkit/evmTestbed.js'
import { tempDir } from './support/tmp.js'

// The recorded chain: 739872 opens epoch 367, and the 741888 retarget (epoch 368) lies inside `longHeaders.chain`.
const CONFIRMATIONS = 6
const PROOF_LENGTH = 6
const BOUNDARY = 741_888
const TASK = 'retarget:eip155:31337:367'
const MEMBERS = ['relayer-1', 'relayer-2']
const logger = silentLogger()
const tmp = tempDir()
const servers: Server[] = []
let bed: EvmTestbed

beforeAll(async () => {
  bed = await startEvmTestbed()
})
afterAll(async () => {
  for (const s of servers) s.closeAllConnections()
  await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))))
  await bed?.stop()
  tmp.cleanup()
})

/** relayer-1 and relayer-2 are anvil accounts 1 and 2. */
const accountOf = (id: string) => bed.account(id === 'relayer-1' ? 1 : 2)
/** The two members in the order they submit retargets out of epoch 367: first, then second. */
const inLine = () =>
  [...MEMBERS].sort((a, b) => submitterRank(TASK, MEMBERS, a) - submitterRank(TASK, MEMBERS, b)) as [
    string,
    string,
  ]

/** An escrow whose set is relayer accounts 1 and 2 (`threshold` of them), with a mainnet relay at epoch 367 that takes retargets from it alone. */
async function market(threshold: number, network: 'mainnet' | 'regtest' = 'mainnet') {
  const genesis = {
    header: longHeaders.epochStart.hex as Hex,
    height: longHeaders.epochStart.height,
    proofLength: PROOF_LENGTH,
  }
  const { escrow, relay } = await deployBtcEscrow(bed.wallet(0), bed.publicClient, {
    relayers: [bed.account(1).address, bed.account(2).address],
    threshold,
    maxFeeBps: 500,
    reclaimGrace: 3600n,
    btc: { network, confirmations: CONFIRMATIONS, genesis },
  })
  const source = recordedHeaderSource([longHeaders.epochStart, ...longHeaders.chain])
  const rail: BtcPayoutRail = {
    chain: 'bip122:000000000019d6689c085ae165831e93',
    watcher: undefined as never,
    confirmations: CONFIRMATIONS,
    pollIntervalMs: 100,
    buildProof: () => Promise.reject(new Error('not used')),
    checkPayout: () => Promise.reject(new Error('not used')),
    retargetHeaders: (epoch, proofLength) =>
      retargetHeaders(source, MAINNET, epoch, proofLength, CONFIRMATIONS),
  }
  const evmMembers = new Map(MEMBERS.map((id) => [id, accountOf(id).address]))
  const runtime = (account: LocalAccount): EscrowChainRuntime => {
    const config = evmChainConfigSchema.parse({
      family: 'evm',
      id: 'eip155:31337',
      rpc: [bed.anvil.rpcUrl],
      escrow,
      confirmations: 1,
      pollIntervalMs: 100,
      key: { env: 'UNUSED' },
      submitter: { maxFeePerGasWei: '500000000000' },
    })
    return evmRuntime(
      config,
      account,
      evmMembers,
      new SqliteStore(`${tmp.dir}/${escrow}-${account.address}.db`),
      logger,
    )
  }
  /** Relayer `id`'s feeder, its clock `now()`, with peers when `gossip` says so. */
  const feeder = (id: string, now: () => number, gossip?: Gossip, approvals = new RetargetApprovals()) =>
    new RelayFeeder({
      relayerId: id,
      members: MEMBERS,
      threshold,
      rail,
      chains: [runtime(accountOf(id))],
      store: new SqliteStore(':memory:'),
      approvals,
      ...(gossip ? { gossip } : {}),
      failoverSeconds: 30,
      logger,
      nowMs: now,
    })
  return { relay, escrow, source, rail, runtime, feeder }
}

const epochOf = (relay: Address) =>
  bed.publicClient.readContract({ address: relay, abi: btcLightRelayAbi, functionName: 'currentEpoch' })
async function retargetEvents(relay: Address) {
  const logs = await bed.publicClient.getLogs({ address: relay, fromBlock: 0n })
  return parseEventLogs({ abi: btcLightRelayAbi, eventName: 'Retarget', logs })
}

/** Each member's approvals, served by its real peer routes, and a real Gossip pulling from the other. */
async function peerPair() {
  const identities = new Map(MEMBERS.map((id) => [id, generateEd25519().signer]))
  const relayerKeys = new Map([...identities].map(([id, k]) => [id, k.publicKey]))
  const metrics = createMetrics()
  const http = { timeoutMs: 1_500, maxBytes: 256 * 1024, allowPrivate: true }
  const approvals = new Map(MEMBERS.map((id) => [id, new RetargetApprovals()]))
  const urls = new Map<string, string>()
  for (const id of MEMBERS) {
    const handle = peerRoutes({
      relayerId: id,
      identity: identities.get(id)!,
      store: new SqliteStore(':memory:'),
      retargets: approvals.get(id)!,
    })
    const server = createServer((req, res) => void handle(req, res, new URL(req.url ?? '/', 'http://x')))
    servers.push(server)
    urls.set(id, await listen(server))
  }
  const gossip = (id: string) => {
    const peers: Peer[] = MEMBERS.filter((p) => p !== id).map((p) => ({ id: p, url: urls.get(p)! }))
    return new Gossip({
      selfId: id,
      peers,
      relayerKeys,
      store: new SqliteStore(':memory:'),
      http: createSafeHttp(http),
      httpOptions: http,
      skewMs: 30_000,
      metrics,
      logger,
    })
  }
  return { approvals, gossip, metrics }
}

describe('relay feeder on anvil, with recorded mainnet headers (regtest never retargets)', () => {
  it('threshold 1: retargets alone once the headers across the boundary are deep enough, first in line first, and only once', async () => {
    const m = await market(1)
    const [first, second] = inLine()
    let now = 1_000_000
    const [a, b] = [m.feeder(first, () => now), m.feeder(second, () => now)]

    // The retarget's last header is 741893; it needs 5 more blocks on top.
    m.source.tip = BOUNDARY + PROOF_LENGTH - 1 + CONFIRMATIONS - 2
    await a.tick()
    expect(await epochOf(m.relay)).toBe(367n)

    m.source.tip += 1
    await b.tick()
    expect(await epochOf(m.relay)).toBe(367n)
    await a.tick()
    expect(await epochOf(m.relay)).toBe(368n)
    expect(
      await bed.publicClient.readContract({
        address: m.relay,
        abi: btcLightRelayAbi,
        functionName: 'epochBits',
        args: [368n],
      }),
    ).toBe(0x170984cc)

    now += 31_000
    await b.tick()
    await a.tick()
    const events = await retargetEvents(m.relay)
    expect(events.map((e) => [e.args.epoch, e.args.oldBits, e.args.newBits])).toEqual([
      [368n, 0x17094b6a, 0x170984cc],
    ])
  })

  it("threshold 2: one relayer's approval moves nothing; once its peer approved the same headers, the first in line posts both", async () => {
    const m = await market(2)
    const peers = await peerPair()
    const [first, second] = inLine()
    let now = 1_000_000
    const [a, b] = [first, second].map((id) =>
      m.feeder(id, () => now, peers.gossip(id), peers.approvals.get(id)),
    ) as [RelayFeeder, RelayFeeder]
    m.source.tip = 741_995

    // The first in line approves, but its peer has not: below the threshold nothing is sent.
    await a.tick()
    expect(await epochOf(m.relay)).toBe(367n)
    expect(peers.approvals.get(first)!.get('eip155:31337', 367n, first)).toBeDefined()
    // The second approves and pulls the first's: it holds a quorum, but waits its turn.
    await b.tick()
    expect(await epochOf(m.relay)).toBe(367n)
    expect(peers.approvals.get(second)!.get('eip155:31337', 367n, first)?.signer).toBe(
      accountOf(first).address,
    )
    // The first pulls the second's approval and posts the retarget with both.
    await a.tick()
    expect(await epochOf(m.relay)).toBe(368n)
    now += 31_000
    await b.tick()
    expect((await retargetEvents(m.relay)).map((e) => e.args.epoch)).toEqual([368n])
  })

  it('lands one retarget when two relayers send at the same moment', async () => {
    const m = await market(1)
    m.source.tip = 741_995
    const [x, y] = [m.runtime(bed.account(1)), m.runtime(bed.account(2))]
    const headers = (await m.rail.retargetHeaders(367n, PROOF_LENGTH))!
    const [ax, ay] = await Promise.all([
      x.btcPayouts!.relay.approveRetarget(367n, headers),
      y.btcPayouts!.relay.approveRetarget(367n, headers),
    ])
    const outcomes = await Promise.all([
      x.btcPayouts!.relay.retarget(367n, headers, [ax]),
      y.btcPayouts!.relay.retarget(367n, headers, [ay]),
    ])
    expect(outcomes.map((o) => o.status).sort()).toEqual(['already-settled', 'submitted'])
    expect(await retargetEvents(m.relay)).toHaveLength(1)
    const again = await x.btcPayouts!.relay.retarget(367n, headers, [ax])
    const [mine] = outcomes
    expect(again.status === 'submitted' ? again.txHash : again.status).toBe(
      mine.status === 'submitted' ? mine.txHash : mine.status,
    )
  })

  it('sends nothing for headers that do not verify, nor approved by a key outside the set, nor to a regtest relay', async () => {
    const m = await market(1)
    m.source.tip = 741_995
    m.source.tamper = BOUNDARY + 2
    const refused = await m.rail.retargetHeaders(367n, PROOF_LENGTH).catch((err: unknown) => err)
    expect(isQantaraError(refused) && refused.code).toBe('RPC_BAD_RESPONSE')
    await m.feeder('relayer-1', Date.now).tick()
    expect(await epochOf(m.relay)).toBe(367n)

    m.source.tamper = undefined
    const stranger = m.runtime(bed.account(3)).btcPayouts!.relay
    const headers = (await m.rail.retargetHeaders(367n, PROOF_LENGTH))!
    const denied = await stranger
      .retarget(367n, headers, [await stranger.approveRetarget(367n, headers)])
      .catch((err: unknown) => err)
    expect(isQantaraError(denied, 'SUBMIT_REVERTED') && denied.context.revert).toBe('NotRelayer')
    // A peer's approval checks only under its own key and over these very headers.
    const own = await m.runtime(bed.account(1)).btcPayouts!.relay.approveRetarget(367n, headers)
    expect(await stranger.verifyRetargetApproval(367n, headers, 'relayer-1', own)).toBe(true)
    expect(await stranger.verifyRetargetApproval(367n, headers, 'relayer-2', own)).toBe(false)
    expect(
      await stranger.verifyRetargetApproval(367n, [...headers.slice(1), headers[0]!], 'relayer-1', own),
    ).toBe(false)
    expect(await epochOf(m.relay)).toBe(367n)

    const regtest = await market(1, 'regtest')
    expect(await regtest.runtime(bed.account(1)).btcPayouts!.relay.state()).toBeUndefined()
  })
})
