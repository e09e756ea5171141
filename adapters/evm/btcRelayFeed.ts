import { zeroAddress, type Address } from 'viem'
import type { BtcRelayFeed } from '../../src/chains.js'
import { btcLightRelayAbi } from './contracts/artifacts/BtcLightRelay.js'
import { qantaraEscrowAbi } from './contracts/artifacts/QantaraEscrow.js'
import type { RpcPool } from './rpcPool.js'
import type { EvmSubmitter } from './submitter.js'

const MAINNET = 0

/** The escrow's BtcLightRelay as the relayers feed it; retargets go through the submitter, so they share its nonces and survive a crash. */
export function evmBtcRelayFeed(pool: RpcPool, escrow: Address, submitter: EvmSubmitter): BtcRelayFeed {
  // The relay and its network are immutable: read once, again only after a failed read.
  let relay: Promise<{ address: Address; retargets: boolean }> | undefined
  const info = () => (relay ??= pool.run(async (c) => {
    const address = await c.readContract({ address: escrow, abi: qantaraEscrowAbi, functionName: 'btcRelay' })
    if (address === zeroAddress) return { address, retargets: false }
    return { address, retargets: (await c.readContract({ address, abi: btcLightRelayAbi, functionName: 'network' })) === MAINNET }
  }, 'btcRelay').catch((err: unknown) => {
    relay = undefined
    throw err
  }))
  return {
    async state() {
      const { address, retargets } = await info()
      if (!retargets) return undefined
      const [ready, epoch, proofLength] = await pool.run((c) => Promise.all([
        c.readContract({ address, abi: btcLightRelayAbi, functionName: 'ready' }),
        c.readContract({ address, abi: btcLightRelayAbi, functionName: 'currentEpoch' }),
        c.readContract({ address, abi: btcLightRelayAbi, functionName: 'proofLength' }),
      ]), 'relay state')
      return ready ? { epoch, proofLength: Number(proofLength) } : undefined
    },
    async retarget(epoch, headers, signal) {
      return submitter.retarget((await info()).address, epoch, headers, signal)
    },
  }
}
