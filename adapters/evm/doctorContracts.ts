import {
  decodeDeployData,
  isAddressEqual,
  isHex,
  zeroAddress,
  type Address,
  type Hex,
  type PublicClient,
} from 'viem'
import type { DeploymentRecord } from '../../src/config/deployment.js'
import { ok, problem } from '../../src/doctor/checks.js'
import {
  btcLightRelayAbi,
  btcLightRelayBytecode,
  btcLightRelayRuntime,
} from './contracts/artifacts/BtcLightRelay.js'
import {
  qantaraEscrowAbi,
  qantaraEscrowBytecode,
  qantaraEscrowRuntime,
} from './contracts/artifacts/QantaraEscrow.js'
import { creationOf, relaySearchBlocks } from './creation.js'
import { isRuntimeOf } from './runtimeCode.js'

type Finding = ReturnType<typeof ok>
const NETWORKS = ['mainnet', 'regtest'] as const

/** A transaction hash a deployment record names for a step, checked on chain before it counts for anything. */
function recordedTx(record: DeploymentRecord | undefined, step: 'escrow' | 'relay'): Hex | undefined {
  const hash = (record?.state[step] as { hash?: unknown } | undefined)?.hash
  return typeof hash === 'string' && isHex(hash) && hash.length === 66 ? hash : undefined
}

/**
 * The escrow is this release's QantaraEscrow, created by its own constructor:
 * the code alone does not say what storage the creation wrote (the relayer
 * set a settlement is checked against), so the creating transaction is found
 * and its input must be the escrow's creation code with its arguments.
 */
export async function escrowProvenance(
  c: PublicClient,
  escrow: Address,
  startBlock: bigint,
  record: DeploymentRecord | undefined,
): Promise<{ finding: Finding; block?: bigint }> {
  const code = (await c.getCode({ address: escrow })) ?? '0x'
  if (code === '0x')
    return {
      finding: problem(
        'no contract at this address',
        'deploy one with `qantara deploy evm` and point the chain at its record',
      ),
    }
  if (!isRuntimeOf(code, qantaraEscrowRuntime))
    return {
      finding: problem(
        "the contract here is not this release's QantaraEscrow (its code differs)",
        'point the chain at an escrow deployed by this release (`qantara deploy evm`)',
      ),
    }
  const creation = await creationOf(c, escrow, { hash: recordedTx(record, 'escrow'), blocks: [startBlock] })
  if (!creation)
    return {
      finding: problem(
        `no transaction creating it is found in startBlock ${startBlock} (nor the one its record names)`,
        "set startBlock to the escrow's creation block, or point the chain at its deployment record",
      ),
    }
  if (!creation.input.startsWith(qantaraEscrowBytecode))
    return {
      finding: problem(
        "it was not created by this release's QantaraEscrow constructor: its storage (the relayer set) is whatever its creator wrote",
        'use an escrow deployed by `qantara deploy evm`',
      ),
    }
  if (creation.block < startBlock)
    return {
      finding: problem(
        `it was created in block ${creation.block}, before startBlock ${startBlock}: orders opened in between are never seen`,
        `set startBlock to ${creation.block}`,
      ),
    }
  const { args } = decodeDeployData({
    abi: qantaraEscrowAbi,
    bytecode: qantaraEscrowBytecode,
    data: creation.input,
  })
  const [, , maxFeeBps, reclaimGrace] = args
  return {
    finding: ok(
      `QantaraEscrow created by ${creation.from} in block ${creation.block}; fees capped at ${maxFeeBps} bps, renters reclaim ${reclaimGrace} s after an order's end`,
    ),
    block: creation.block,
  }
}

/**
 * The escrow's light relay, where it has one: this release's BtcLightRelay,
 * created by its constructor for this escrow (a relay whose storage its
 * creator wrote could accept any headers, and so any payout proof), anchored.
 */
export async function relayProvenance(
  c: PublicClient,
  escrow: Address,
  escrowBlock: bigint,
  record: DeploymentRecord | undefined,
): Promise<Finding> {
  const relay = await c.readContract({ address: escrow, abi: qantaraEscrowAbi, functionName: 'btcRelay' })
  if (relay === zeroAddress) return ok('none: this escrow takes no BTC payouts')
  const fix =
    'deploy the escrow and its relay with `qantara deploy evm --btc-network …` and point the chain at its record'
  if (!isRuntimeOf((await c.getCode({ address: relay })) ?? '0x', btcLightRelayRuntime))
    return problem(`${relay} is not this release's BtcLightRelay (its code differs)`, fix)
  const creation = await creationOf(c, relay, {
    hash: recordedTx(record, 'relay'),
    blocks: relaySearchBlocks(escrowBlock),
  })
  if (!creation) return problem(`no transaction creating the relay ${relay} is found near the escrow's`, fix)
  if (!creation.input.startsWith(btcLightRelayBytecode))
    return problem(
      `the relay ${relay} was not created by BtcLightRelay's constructor: its headers are its creator's`,
      fix,
    )
  const { args } = decodeDeployData({
    abi: btcLightRelayAbi,
    bytecode: btcLightRelayBytecode,
    data: creation.input,
  })
  const [network, boundTo] = args
  if (!isAddressEqual(boundTo, escrow))
    return problem(`the relay ${relay} takes retargets from ${boundTo}, not this escrow`, fix)
  const read = <F extends 'ready' | 'owner' | 'proofLength'>(functionName: F) =>
    c.readContract({ address: relay, abi: btcLightRelayAbi, functionName })
  const [ready, owner, proofLength] = await Promise.all([read('ready'), read('owner'), read('proofLength')])
  if (!ready)
    return problem(
      `${relay} has no genesis: no BTC payout can be proved`,
      'run `qantara deploy evm` again with its record to anchor it',
    )
  return ok(
    `BtcLightRelay ${relay} on ${NETWORKS[network] ?? `network ${network}`}, anchored, proofLength ${proofLength}, owner ${owner}`,
  )
}
