import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { zeroAddress, type Hex } from 'viem'
import { generateEd25519 } from '../src/ed25519.js'
import {
  deployMarket,
  fund,
  openOrder,
  relayerKeys,
  startEvmTestbed,
  type Deployment,
  type EvmTestbed,
} from '../devkit/evmTestbed.js'
import { inProcessRelayer, type InProcessRelayer } from './support/inProcessRelayer.js'
import { waitFor } from '../devkit/waitFor.js'

let bed: EvmTestbed
let d: Deployment
let relayer: InProcessRelayer
beforeAll(async () => {
  bed = await startEvmTestbed()
  const [account] = relayerKeys(1)
  d = await deployMarket(bed, [account!], 1)
  await fund(bed, d, 1, 10n ** 12n)
  const identity = generateEd25519().signer
  relayer = await inProcessRelayer({
    id: 'relayer-1',
    identity,
    account: account!,
    relayerKeys: new Map([['relayer-1', identity.publicKey]]),
    members: ['relayer-1'],
    evmMembers: new Map([['relayer-1', account!.address]]),
    threshold: 1,
    rpcUrl: bed.anvil.rpcUrl,
    escrow: d.escrow,
    peers: [],
    tokens: { native: '1000000000000000' },
  })
})
afterAll(async () => {
  await relayer?.close()
  await bed?.stop()
})

describe('the tokens a relayer serves', () => {
  it('takes on only orders in a served token at or above its minimum; the others are counted and left to their renters', async () => {
    const stop = new AbortController()
    const running = relayer.run(stop.signal)
    const usdc = await openOrder(bed, d, 1, { amount: 50_000_000n })
    const dust = await openOrder(bed, d, 1, { amount: 10n ** 14n, token: zeroAddress })
    const served = await openOrder(bed, d, 1, { amount: 10n ** 15n, token: zeroAddress })
    await waitFor(
      async () => (await relayer.store.getOrder(served.orderId)) ?? undefined,
      'the served order',
      20_000,
      100,
    )
    stop.abort()
    await running
    const stored = async (id: Hex) => (await relayer.store.getOrder(id))?.state
    expect(await stored(usdc.orderId)).toBeUndefined()
    expect(await stored(dust.orderId)).toBeUndefined()
    expect(await stored(served.orderId)).toBe('opened')
    const metric = await relayer.metrics.registry.getSingleMetricAsString('qantara_orders_refused_total')
    expect(metric).toContain('qantara_orders_refused_total{chain="eip155:31337",reason="TOKEN_NOT_SERVED"} 1')
    expect(metric).toContain('qantara_orders_refused_total{chain="eip155:31337",reason="BELOW_MIN_AMOUNT"} 1')
  })
})
