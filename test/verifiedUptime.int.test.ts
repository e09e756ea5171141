import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LocalAccount } from 'viem'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { generateEd25519 } from '../src/ed25519.js'
import type { Transcript } from '../src/gpu/transcript.js'
import type { Peer } from '../src/peer/gossip.js'
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
import { SCRIPT, SCRIPTED_SLOT, scriptedDevice } from './support/scriptedDevice.js'

const SLOTS = BigInt(SCRIPT.length)

const SLOT = SCRIPTED_SLOT

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

    // relayer-0 is byzantine towards its peers: it claims every proof it holds shows the provider cheating, serves
    // transcripts with a row changed under the provider's signature to back the claim, and serves every heartbeat it
    // holds again at every pull (its cursor moves, its rows do not), to make its peers check the claims again and again.
    const forged = { served: 0 }
    const tamper = (
      honest: Parameters<NonNullable<Parameters<typeof inProcessRelayer>[0]['peerSource']>>[0],
    ) => ({
      ...honest,
      async heartbeats(orderId: string, since: number) {
        const page = await honest.heartbeats(orderId, 0)
        return {
          heartbeats: page.heartbeats.map((h) =>
            h.transcript ? { ...h, transcript: 'failed' as const } : h,
          ),
          cursor: since + page.heartbeats.length + 1,
          more: false,
        }
      },
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
    const amount = 1_000n * SLOTS
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
    // One slot paid: the chain's split is the honest one.
    expect(settled.args.upSlots).toBe(1)
    expect(settled.args.toProvider).toBe(amount / SLOTS)
    expect(settled.args.toRenter).toBe(amount - amount / SLOTS)
    const split = (x: (typeof records)[number]) => {
      const { toProvider, toRenter, fee, upSlots, heartbeatRoot } = x!.settlement!
      return { toProvider, toRenter, fee, upSlots, heartbeatRoot }
    }
    expect(split(records[0])).toEqual(split(records[1]))
    expect(settled.args.heartbeatRoot).toBe(records[0]!.settlement!.heartbeatRoot)
    // The forged proofs were served and changed nothing: the honest slot is compute-verified by the honest relayers'
    // own transcripts, and relayer-0's record is not held against the provider, since the transcript it served for
    // its claim did not bear it out.
    expect(forged.served).toBeGreaterThan(0)
    // Each false claim is checked about once by each honest relayer (twice when two pulls race), not again at every
    // pull of the ~100 each makes: relayer-0 holds four proofs.
    expect(forged.served).toBeLessThanOrEqual(2 * 4 * honest.length)
    for (const r of honest) {
      const slot0 = new Map(
        (await r.store.listHeartbeatKeys(orderId))
          .filter((h) => h.slot === 0)
          .map((h) => [h.relayerId, h.compute]),
      )
      expect([slot0.get(r.id), slot0.get('relayer-0')]).toEqual(['passed', 'unanswered'])
    }
  }, 150_000)
})
