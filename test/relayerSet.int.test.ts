import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LocalAccount } from 'viem'
import { evmChainConfigSchema } from '../adapters/evm/config.js'
import { sortAddresses } from '../adapters/evm/eip712.js'
import { evmRelayerSetTool } from '../adapters/evm/relayerSet.js'
import type { RelayerSetApproval } from '../src/relayerSet.js'
import { isQantaraError } from '../src/errors.js'
import {
  deployMarket,
  relayerKeys,
  startEvmTestbed,
  type Deployment,
  type EvmTestbed,
} from '../devkit/evmTestbed.js'

let bed: EvmTestbed
let d: Deployment
let members: LocalAccount[]

const tool = (account: LocalAccount) =>
  evmRelayerSetTool(
    evmChainConfigSchema.parse({
      family: 'evm',
      id: 'eip155:31337',
      rpc: [bed.anvil.rpcUrl],
      escrow: d.escrow,
      key: { env: 'UNUSED' },
      submitter: { maxFeePerGasWei: '100000000000' },
    }),
    account,
  )

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(isQantaraError(err, 'ROTATION_REFUSED')).toBe(true)
  return (err as Error).message
}

beforeAll(async () => {
  bed = await startEvmTestbed()
  members = [1, 4, 5]
    .map((i) => bed.account(i))
    .sort((a, b) => (BigInt(a.address) < BigInt(b.address) ? -1 : 1))
  d = await deployMarket(bed, members, 2)
})
afterAll(() => bed?.stop())

describe('relayer-set rotation by the quorum (qantara relayers)', () => {
  it('refuses what a quorum of the current set did not approve, then applies it once', async () => {
    const [a, b, c] = members
    const next = sortAddresses([b!.address, c!.address, bed.account(6).address])
    const approve = (who: LocalAccount, set = next, threshold = 2) => tool(who).approve(set, threshold)
    const fromA = await approve(a!)
    expect(fromA.update).toEqual({ version: 2n, members: next, threshold: 2 })

    expect(await refusal(tool(a!).apply([fromA]))).toMatch(
      /1 approvals from current members; the set needs 2/,
    )
    expect(await refusal(tool(a!).apply([fromA, await approve(bed.account(6))]))).toMatch(/1 approvals/)
    expect(await refusal(tool(a!).apply([fromA, await approve(b!, next, 3)]))).toMatch(/different proposals/)
    // b's name on a signature made by someone else.
    const forged: RelayerSetApproval = { ...(await approve(bed.account(7))), signer: b!.address }
    expect(await refusal(tool(a!).apply([fromA, forged]))).toMatch(/not signed by that key/)
    expect(await refusal(tool(a!).approve([a!.address, a!.address], 1))).toMatch(/twice/)
    expect(await refusal(tool(a!).approve([a!.address], 2))).toMatch(/between 1 and/)
    expect((await tool(a!).current()).version).toBe(1n)

    const fromC = await approve(c!)
    expect(await tool(a!).apply([fromA, fromC])).toMatchObject({ status: 'applied' })
    expect(await tool(a!).current()).toEqual({ version: 2n, members: next, threshold: 2 })
    // A repeat by another operator changes nothing.
    expect(await tool(b!).apply([fromC, fromA])).toEqual({ status: 'already-applied' })
    // Approvals for version 2 of another proposal are stale now, and a new approval is for version 3.
    expect((await approve(a!, sortAddresses(relayerKeys(2).map((k) => k.address)), 1)).update.version).toBe(
      3n,
    )
    const stale = { ...fromA, update: { ...fromA.update, threshold: 3 } }
    expect(await refusal(tool(b!).apply([stale]))).toMatch(/already at version 2/)
  })
})
