import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LocalAccount } from 'viem'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { cpuReferenceProver, type ComputeProver } from '../src/agent/prover.js'
import type { Telemetry } from '../src/agent/telemetry.js'
import { generateEd25519 } from '../src/ed25519.js'
import { commitOnCpu, answerOnCpu, type Committed } from '../src/gpu/cpuProver.js'
import { rowLeaf, rowRoot, rowTree } from '../src/gpu/rowCommitment.js'
import type { Transcript } from '../src/gpu/transcript.js'
import type { Peer } from '../src/peer/gossip.js'
import { referenceGpu } from '../devkit/gpu/referenceGpu.js'
import {
  deployMarket,
  fund,
  openOrder,
  relayerKeys,
  startEvmTestbed,
  type Deployment,
  type EvmTestbed,
} from '../devkit/evmTestbed.js'
import { waitFor } from '../devkit/waitFor.js'
import { inProcessAgent, inProcessRelayer, type InProcessRelayer } from './support/inProcessRelayer.js'

const SLOT = 3
/** What the provider does in each slot of the order, and the status every honest relayer settles it with. */
const SCRIPT = [
  ['honest: the CPU reference device, answering every challenge', 'C'],
  ['no GPU: nvidia-smi missing and no prover', 'M'],
  ['commits to a wrong C and signs rows of it', 'X'],
  ['commits 1.5 s late, past the class deadline of 1 s', 'U'],
  ["replays its first slot's commitment instead of computing", 'X'],
  ['another GPU: the UUID changed from here on', 'W'],
] as const

let bed: EvmTestbed
let d: Deployment
let accounts: LocalAccount[]
const closers: (() => Promise<void>)[] = []
beforeAll(async () => {
  bed = await startEvmTestbed()
  accounts = relayerKeys(3)
  d = await deployMarket(bed, accounts, 2)
  await fund(bed, d, 1, 10n ** 12n)
  for (const a of accounts) await bed.testClient.setBalance({ address: a.address, value: 10n ** 20n })
})
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined)
  await bed?.stop()
})

/** C with the first entry of every row off by one, committed honestly: the rows are committed, and wrong. */
function wrongC(seed: Uint8Array, n: number): Committed {
  const right = commitOnCpu(seed, n)
  const c = Int32Array.from(right.c)
  for (let i = 0; i < n; i++) c[i * n] = c[i * n]! + 1
  const tree = rowTree(Array.from({ length: n }, (_, i) => rowLeaf(c.subarray(i * n, (i + 1) * n))))
  return { n, c, tree, root: rowRoot(tree) }
}

/** The provider's device slot by slot, by the wall clock, as SCRIPT says. */
function scriptedDevice(slotOf: () => number): {
  prover: ComputeProver
  telemetry: () => Promise<Telemetry>
} {
  const honest = cpuReferenceProver()
  const held = new Map<string, Committed>()
  let first: Committed | undefined
  const key = (seed: Uint8Array, n: number) => `${Buffer.from(seed).toString('hex')}:${n}`
  const prover: ComputeProver = {
    async commit(seed, n) {
      const slot = slotOf()
      if (slot === 1) throw new Error('no GPU')
      if (slot === 2) held.set(key(seed, n), wrongC(seed, n))
      if (slot === 3) await new Promise((ok) => setTimeout(ok, 1_500))
      if (slot === 4 && first) held.set(key(seed, n), first)
      if (slot !== 0 && held.has(key(seed, n))) return held.get(key(seed, n))!.root
      const root = await honest.commit(seed, n)
      first ??= commitOnCpu(seed, n)
      return root
    },
    async answer(seed, n, revealSeed) {
      const mine = held.get(key(seed, n))
      return mine
        ? { root: mine.root, answer: answerOnCpu(mine, revealSeed) }
        : honest.answer(seed, n, revealSeed)
    },
  }
  const telemetry = (): Promise<Telemetry> => {
    const slot = slotOf()
    if (slot === 1) return Promise.resolve({ gpus: null, unavailable: 'nvidia-smi not found' })
    return Promise.resolve({ gpus: [slot >= 5 ? referenceGpu(0, 'GPU-swapped-in') : referenceGpu()] })
  }
  return { prover, telemetry }
}

describe('verified GPU uptime (EVM, 2 of 3 relayers, one byzantine, every slot challenged)', () => {
  it('pays only the slots the ordered GPU was there and computing, each down slot with its reason, and a forged proof frames nobody', async () => {
    const ids = ['relayer-0', 'relayer-a', 'relayer-b']
    const identities = ids.map(() => generateEd25519().signer)
    const relayerKeysById = new Map(ids.map((id, i) => [id, identities[i]!.publicKey]))
    const evmMembers = new Map(ids.map((id, i) => [id, accounts[i]!.address]))
    const provider = generateEd25519().signer
    let start = 0n
    const slotOf = () => Math.floor((Date.now() / 1000 - Number(start)) / SLOT)
    const device = scriptedDevice(slotOf)
    const offer = {
      payout: { 'eip155:31337': bed.account(8).address },
      prices: [
        {
          chain: 'eip155:31337',
          token: d.token,
          gpuClass: 'cpu-reference',
          perSlot: '1000',
          slotLength: SLOT,
        },
      ],
    }
    const agent = await inProcessAgent(provider, offer, device)
    closers.push(agent.close)

    // relayer-0 is byzantine towards its peers: every transcript it serves has a row changed under the provider's signature.
    const forged = { served: 0 }
    const tamper = (
      honest: Parameters<NonNullable<Parameters<typeof inProcessRelayer>[0]['peerSource']>>[0],
    ) => ({
      ...honest,
      async transcript(orderId: string, slot: number, relayerId: string) {
        const real = (await honest.transcript(orderId, slot, relayerId)) as Transcript | undefined
        if (!real?.rows[0]) return real
        forged.served++
        const values = Buffer.from(real.rows[0].values, 'base64')
        values.writeInt32LE(values.readInt32LE(0) + 1, 0)
        return {
          ...real,
          rows: [{ ...real.rows[0], values: values.toString('base64') }, ...real.rows.slice(1)],
        }
      },
    })
    const peers: Peer[][] = ids.map(() => [])
    const relayers: InProcessRelayer[] = []
    for (const [i, id] of ids.entries()) {
      const r = await inProcessRelayer({
        id,
        identity: identities[i]!,
        account: accounts[i]!,
        relayerKeys: relayerKeysById,
        members: ids,
        evmMembers,
        threshold: 2,
        rpcUrl: bed.anvil.rpcUrl,
        escrow: d.escrow,
        peers: peers[i]!,
        computeRate: 1,
        httpTimeoutMs: 2_500,
        ...(i === 0 ? { peerSource: tamper } : {}),
      })
      relayers.push(r)
      closers.push(r.close)
    }
    for (const i of relayers.keys())
      peers[i]!.push(...relayers.filter((_, k) => k !== i).map((p) => ({ id: p.id, url: p.url })))
    for (const r of relayers) await r.registry.submit(agent.agent.record)

    const chainNow = (await bed.publicClient.getBlock()).timestamp
    const wallNow = BigInt(Math.ceil(Date.now() / 1000))
    start = (wallNow > chainNow ? wallNow : chainNow) + 2n
    const amount = 6_000n
    const { orderId } = await openOrder(bed, d, 1, {
      amount,
      providerId: provider.publicKey,
      start,
      slotLength: SLOT,
      slots: SCRIPT.length,
    })
    const stop = new AbortController()
    const running = relayers.map((r) => r.run(stop.signal))
    const settled = await waitFor(
      async () => {
        const logs = await bed.publicClient.getContractEvents({
          address: d.escrow,
          abi: qantaraEscrowAbi,
          eventName: 'OrderSettled',
          fromBlock: 0n,
          strict: true,
        })
        return logs.find((l) => l.args.orderId === orderId)
      },
      'the order to settle on chain',
      90_000,
      250,
    )
    const honest = relayers.slice(1)
    await waitFor(
      async () =>
        (await Promise.all(honest.map((r) => r.store.getOrder(orderId)))).every((r) => r?.state === 'settled')
          ? true
          : undefined,
      'the honest relayers to see it settled',
      20_000,
      100,
    )
    stop.abort()
    await Promise.all(running)

    const expected = SCRIPT.map(([, status]) => status).join('')
    const records = await Promise.all(honest.map((r) => r.store.getOrder(orderId)))
    expect(records.map((r) => r?.uptime)).toEqual([expected, expected])
    // One slot of six paid: the chain's split is the honest one.
    expect(settled.args.upSlots).toBe(1)
    expect(settled.args.toProvider).toBe(amount / 6n)
    expect(settled.args.toRenter).toBe(amount - amount / 6n)
    const split = (x: (typeof records)[number]) => {
      const { toProvider, toRenter, fee, upSlots, heartbeatRoot } = x!.settlement!
      return { toProvider, toRenter, fee, upSlots, heartbeatRoot }
    }
    expect(split(records[0])).toEqual(split(records[1]))
    expect(settled.args.heartbeatRoot).toBe(records[0]!.settlement!.heartbeatRoot)
    // The forged proofs were served and changed nothing: the honest slot is compute-verified by the honest relayers'
    // own transcripts, and relayer-0's record counts as unanswered, since the only transcript it served was forged.
    expect(forged.served).toBeGreaterThan(0)
    for (const r of honest)
      expect(
        (await r.store.listHeartbeatKeys(orderId))
          .filter((h) => h.slot === 0)
          .map((h) => [h.relayerId, h.compute]),
      ).toEqual([
        ['relayer-0', 'unanswered'],
        ['relayer-a', 'passed'],
        ['relayer-b', 'passed'],
      ])
  }, 150_000)
})
