import { describe, expect, it } from 'vitest'
import { computeSettlement } from '../src/computeSettlement.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { decodeFunctionData, getAddress, hexToBytes, toHex, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { recoverSettlementSigner, sortAddresses } from '../adapters/evm/eip712.js'
import { cliJson } from './support/cli.js'
import { openOrders, settledOnChain, startQuorum, type QuorumRun } from './support/quorumMarket.js'
import { waitFor } from '../devkit/waitFor.js'
import { startHostileAgent } from './support/hostileAgent.js'
import { freePort } from '../devkit/freePort.js'

/** Each order settled once on chain, with the split the settlement function gives over relayer `judge`'s heartbeat set. */
async function expectHonestSettlements(run: QuorumRun, judge: number, threshold: number): Promise<void> {
  const byOrder = await settledOnChain(run)
  await new Promise((r) => setTimeout(r, 500))
  const store = new SqliteStore(run.market.relayers[judge]!.store)
  try {
    for (const order of run.orders) {
      const logs = byOrder.get(order.id) ?? []
      expect(logs).toHaveLength(1)
      const heartbeats = await store.listHeartbeatKeys(order.id)
      const { settlement } = computeSettlement(order, heartbeats, {
        threshold,
        feeBps: 100,
        feeRecipient: run.market.feeRecipient,
      })
      const a = logs[0]!.args
      expect({
        toProvider: a.toProvider,
        toRenter: a.toRenter,
        fee: a.fee,
        upSlots: a.upSlots,
        heartbeatRoot: a.heartbeatRoot,
      }).toEqual({
        toProvider: settlement.toProvider,
        toRenter: settlement.toRenter,
        fee: settlement.fee,
        upSlots: settlement.upSlots,
        heartbeatRoot: settlement.heartbeatRoot,
      })
      // Heartbeats from more than one relayer: the union really came through gossip.
      expect(new Set(heartbeats.map((h) => h.relayerId)).size).toBeGreaterThanOrEqual(threshold)
    }
  } finally {
    await store.close()
  }
}

describe('a quorum of three relayers, threshold 2', () => {
  it('settles every order from the union of heartbeats, once', async () => {
    const run = await startQuorum({ relayers: 3, threshold: 2 })
    try {
      await openOrders(run, 3, 3)
      await expectHonestSettlements(run, 0, 2)
      // Relayers that did not submit learn of the settlement from the chain.
      for (const r of run.market.relayers) {
        for (const o of run.orders) {
          await waitFor(
            async () => {
              const res = await fetch(`${r.url}/v1/orders/${o.id}`)
              return ((await res.json()) as { state: string }).state === 'settled' || undefined
            },
            `${r.id} to see ${o.id} settled`,
            15_000,
            250,
          )
        }
      }
    } finally {
      await run.stop()
    }
  }, 180_000)

  const degraded: [string, Partial<Parameters<typeof startQuorum>[0]>][] = [
    ['with one relayer down the whole time', { down: [2] }],
    ['when one relayer answers its peers slower than their timeout', { slowPeer: 2 }],
  ]
  for (const [what, faults] of degraded) {
    it(`settles ${what}`, async () => {
      const run = await startQuorum({ relayers: 3, threshold: 2, ...faults })
      try {
        await openOrders(run, 2, 3)
        await expectHonestSettlements(run, 0, 2)
      } finally {
        await run.stop()
      }
    }, 180_000)
  }

  it('pays the honest split when one relayer forges heartbeats, withholds its own from every other pull, signs an inflated settlement and serves a malleated one', async () => {
    const run = await startQuorum({ relayers: 3, threshold: 2, byzantine: 0 })
    try {
      await openOrders(run, 2, 3)
      await expectHonestSettlements(run, 1, 2)
      const metrics = await (await fetch(`${run.market.relayers[1]!.metricsUrl}/metrics`)).text()
      expect(metrics).toMatch(
        /qantara_peer_rejections_total\{peer="relayer-1",reason="BAD_SIGNATURE"\} [1-9]/,
      )
      expect(metrics).toMatch(
        /qantara_peer_rejections_total\{peer="relayer-1",reason="BAD_SETTLEMENT_SIGNATURE"\} [1-9]/,
      )
      const disputed = await Promise.all(
        run.market.relayers.slice(1).map(
          async (r) =>
            (await (await fetch(`${r.url}/v1/orders?limit=1000`)).json()) as {
              orders: { state: string }[]
            },
        ),
      )
      expect(disputed.flatMap((d) => d.orders).filter((o) => o.state === 'disputed')).toEqual([])
    } finally {
      await run.stop()
    }
  }, 180_000)

  it('settles when a relayer is killed mid-order and restarted', async () => {
    const run = await startQuorum({ relayers: 3, threshold: 2 })
    try {
      await openOrders(run, 2, 4)
      await new Promise((r) => setTimeout(r, 4_000))
      run.processes[1]!.kill('SIGKILL')
      await new Promise((r) => setTimeout(r, 3_000))
      run.restart(1)
      await expectHonestSettlements(run, 0, 2)
    } finally {
      await run.stop()
    }
  }, 180_000)

  it('finds a provider through every relayer when it registered with one of them', async () => {
    // startQuorum waits until each relayer lists the provider: relayers 2 and 3 only hear of it from relayer 1.
    const run = await startQuorum({ relayers: 3, threshold: 2, announceTo: [0] })
    try {
      const res = await fetch(`${run.market.relayers[2]!.url}/v1/providers`)
      expect(
        ((await res.json()) as { providers: { record: { providerId: string } }[] }).providers.map(
          (p) => p.record.providerId,
        ),
      ).toEqual([run.market.provider.publicKey])
    } finally {
      await run.stop()
    }
  }, 120_000)

  it('never pays slots that only one relayer witnessed, when the provider answers only that relayer', async () => {
    // A proxy in front of the agent passes relayer-1's challenges and drops everyone else's.
    const agentPort = await freePort()
    const proxy = await startHostileAgent()
    proxy.set((req, res, body) => {
      const challenge =
        req.method === 'POST'
          ? (JSON.parse(body) as { challenge: { relayerId: string } }).challenge
          : undefined
      if (challenge && challenge.relayerId !== 'relayer-1') return void res.writeHead(503).end()
      fetch(`http://127.0.0.1:${agentPort}${req.url}`, {
        method: req.method,
        ...(req.method === 'POST' ? { body, headers: { 'content-type': 'application/json' } } : {}),
      })
        .then(async (r) =>
          res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text()),
        )
        .catch(() => res.writeHead(502).end())
    })
    const run = await startQuorum({
      relayers: 3,
      threshold: 2,
      agent: { port: agentPort, publicUrl: proxy.url },
    })
    try {
      await openOrders(run, 1, 3)
      const byOrder = await settledOnChain(run)
      const settled = byOrder.get(run.orders[0]!.id)![0]!.args
      expect([settled.upSlots, settled.toProvider, settled.toRenter]).toEqual([0, 0n, run.orders[0]!.amount])
      const store = new SqliteStore(run.market.relayers[1]!.store)
      const witnesses = new Set((await store.listHeartbeats(run.orders[0]!.id)).map((h) => h.relayerId))
      await store.close()
      expect([...witnesses]).toEqual(['relayer-1'])
    } finally {
      await run.stop()
      await proxy.close()
    }
  }, 180_000)

  it('rotates the relayer set by a quorum of operators while orders are open; the new set settles them', async () => {
    const run = await startQuorum({ relayers: 3, threshold: 2 })
    try {
      // Long enough (24 s) that four CLI runs rotate the set before the orders end, on a loaded machine too.
      await openOrders(run, 2, 12)
      const [, b, c] = run.market.relayers
      // relayer-1 leaves, a newcomer joins: relayer-2 and relayer-3, a quorum of the current set, approve.
      const members = sortAddresses([
        b!.account.address,
        c!.account.address,
        privateKeyToAccount(generatePrivateKey()).address,
      ])
      const approvals = await Promise.all(
        [b!, c!].map(async (r) => {
          const file = join(run.dir, `${r.id}.approval.json`)
          writeFileSync(
            file,
            JSON.stringify(
              await cliJson([
                'relayers',
                'approve',
                '--config',
                r.yaml,
                '--chain',
                'eip155:31337',
                '--members',
                members.join(','),
                '--threshold',
                '2',
              ]),
            ),
          )
          return file
        }),
      )
      const apply = () =>
        cliJson<{ status: string; set: unknown }>([
          'relayers',
          'apply',
          '--config',
          b!.yaml,
          '--chain',
          'eip155:31337',
          ...approvals,
        ])
      expect(await apply()).toMatchObject({ status: 'applied', set: { version: '2', members, threshold: 2 } })
      expect((await apply()).status).toBe('already-applied')
      const early = await run.market.publicClient.getContractEvents({
        address: run.market.escrow,
        abi: qantaraEscrowAbi,
        eventName: 'OrderSettled',
        fromBlock: 0n,
      })
      expect(early).toEqual([])

      await expectHonestSettlements(run, 1, 2)
      // Each release carries exactly the signatures of new-set members: relayer-1's would be refused.
      for (const [, [log]] of await settledOnChain(run)) {
        const tx = await run.market.publicClient.getTransaction({ hash: log!.transactionHash })
        const { args } = decodeFunctionData({ abi: qantaraEscrowAbi, data: tx.input })
        const [, settlement, packed] = args as readonly [
          unknown,
          Parameters<typeof recoverSettlementSigner>[1],
          Hex,
        ]
        const bytes = hexToBytes(packed)
        const signers = await Promise.all(
          [0, 65].map((at) =>
            recoverSettlementSigner(
              { chainId: 31337, escrow: run.market.escrow },
              settlement,
              toHex(bytes.slice(at, at + 65)),
            ),
          ),
        )
        expect(bytes.length).toBe(130)
        expect(signers.map((s) => getAddress(s))).toEqual(
          sortAddresses([b!.account.address, c!.account.address]),
        )
      }
    } finally {
      await run.stop()
    }
  }, 180_000)
})
