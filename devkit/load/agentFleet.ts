import { ProviderAgent } from '../../src/agent/server.js'
import { generateEd25519 } from '../../src/ed25519.js'
import { silentLogger } from '../../src/log.js'
import type { ProviderRecord, SignedProviderRecord } from '../../src/registry/record.js'
import { freePort } from '../freePort.js'
import { referenceGpu } from '../gpu/referenceGpu.js'

export interface FleetOptions {
  providers: number
  payout: ProviderRecord['payout']
  prices: ProviderRecord['prices']
}

export interface AgentFleet {
  /** Each provider's signed record, whose url is its agent on this host. */
  records: SignedProviderRecord[]
  close(): Promise<void>
}

/**
 * Many providers served from one process, for load benchmarks: each a real
 * `ProviderAgent` with its own key and port, answering with the dev kit's
 * reference GPU (no nvidia-smi is run: its telemetry is fixed). What a
 * relayer probes is the agent code providers run; only the hosts are few.
 */
/**
 * The fleet's own loopback address: the market's processes listen on
 * 127.0.0.1 at ports picked before they start, which an agent here must not
 * take first.
 */
const FLEET_HOST = '127.0.0.2'

export async function startAgentFleet(o: FleetOptions): Promise<AgentFleet> {
  const gpu = referenceGpu()
  const telemetry = { gpus: [gpu] }
  const agents = await Promise.all(
    Array.from({ length: o.providers }, async () => {
      const port = await freePort(FLEET_HOST)
      const agent = new ProviderAgent({
        signer: generateEd25519().signer,
        record: {
          url: `http://${FLEET_HOST}:${port}`,
          gpus: [{ name: gpu.name, uuid: gpu.uuid, memoryTotalMiB: gpu.memoryTotalMiB }],
          payout: o.payout,
          prices: o.prices,
        },
        recordTtlSeconds: 7 * 24 * 3600,
        telemetry: () => Promise.resolve(telemetry),
        // A load test: the relayer under test is the only client, and the one being measured.
        rateLimit: { perSecond: 1e9, burst: 1e9 },
        addressRateLimit: { perSecond: 1e9, burst: 1e9 },
        logger: silentLogger(),
      })
      await new Promise<void>((ok, fail) => {
        agent.server.once('error', fail)
        agent.server.listen(port, FLEET_HOST, () => ok())
      })
      return agent
    }),
  )
  return {
    records: agents.map((a) => a.record),
    close: async () => {
      await Promise.all(
        agents.map(
          (a) =>
            new Promise<void>((ok) => {
              a.server.closeAllConnections()
              a.server.close(() => ok())
            }),
        ),
      )
    },
  }
}
