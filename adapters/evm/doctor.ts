import { createPublicClient, formatEther, http, isAddressEqual, type Address, type PublicClient } from 'viem'
import { check, eachRpc, ok, problem, warn } from '../../src/doctor/checks.js'
import type { DeploymentRecord } from '../../src/config/deployment.js'
import type { DoctorCheck, DoctorQuorum } from '../../src/family.js'
import type { EvmChainConfig } from './config.js'
import { qantaraEscrowAbi } from './contracts/artifacts/QantaraEscrow.js'
import { escrowProvenance, relayProvenance } from './doctorContracts.js'

/** Settlements the signer's balance should pay for at the fee cap before the doctor warns. */
const SETTLEMENTS_FUNDED = 20n

/** `qantara doctor` on an EVM chain: its RPCs, the escrow and the quorum it holds, the light relay, and the signer's gas. */
export async function evmDoctor(
  config: EvmChainConfig,
  signer: Address,
  quorum: DoctorQuorum,
  record?: DeploymentRecord,
): Promise<DoctorCheck[]> {
  const client = (url: string) =>
    createPublicClient({ transport: http(url, { timeout: config.rpcTimeoutMs, retryCount: 0 }) })
  const { checks, live } = await eachRpc(config.id, config.rpc, async (url) => {
    const c = client(url)
    const [id, head] = await Promise.all([c.getChainId(), c.getBlockNumber()])
    return { served: `eip155:${id}`, head: head.toString() }
  })
  if (!live) return checks
  const c = client(live)
  const escrow = config.escrow
  const at = `${config.id} escrow ${escrow}`
  let escrowBlock: bigint | undefined
  const provenance = await check(at, async () => {
    const found = await escrowProvenance(c, escrow, config.startBlock, record)
    escrowBlock = found.block
    return found.finding
  })
  checks.push(provenance)
  if (provenance.level !== 'ok' || escrowBlock === undefined) return checks
  const created = escrowBlock
  checks.push(await check(`${config.id} relayer set`, () => relayerSetCheck(c, escrow, signer, quorum)))
  checks.push(await check(`${config.id} start block`, () => startBlockCheck(c, config)))
  checks.push(await check(`${config.id} light relay`, () => relayProvenance(c, escrow, created, record)))
  checks.push(await check(`${config.id} gas of ${signer}`, () => gasCheck(c, config, signer)))
  return checks
}

async function relayerSetCheck(c: PublicClient, escrow: Address, signer: Address, quorum: DoctorQuorum) {
  const [version, members, threshold] = await c.readContract({
    address: escrow,
    abi: qantaraEscrowAbi,
    functionName: 'relayerSet',
  })
  if (!members.some((m) => isAddressEqual(m, signer)))
    return problem(
      `this relayer's key ${signer} is not in the escrow's set (version ${version}: ${members.join(', ')})`,
      'use the key the set names, or rotate the set with `qantara relayers approve` and `apply`',
    )
  const configured = quorum.members.flatMap((m) => (m.evm ? [m.evm] : []))
  const strangers = configured.filter((a) => !members.some((m) => isAddressEqual(m, a as Address)))
  const unknown = members.filter((m) => !configured.some((a) => isAddressEqual(m, a as Address)))
  if (strangers.length)
    return problem(
      `quorum.members name ${strangers.join(', ')}, which the escrow's set does not hold: their signatures count for nothing`,
      "make quorum.members the escrow's set (`qantara relayers show`)",
    )
  // Keys the quorum does not know could sign settlements with the escrow's threshold: not this quorum's escrow.
  if (unknown.length)
    return problem(
      `the escrow's set also holds ${unknown.join(', ')}, which no quorum member names: they could settle without this quorum`,
      'use an escrow deployed for exactly this quorum (`qantara deploy evm`), or rotate its set to it',
    )
  if (threshold !== quorum.threshold)
    return problem(
      `the escrow needs ${threshold} signatures; quorum.threshold says ${quorum.threshold}`,
      `set quorum.threshold to ${threshold}`,
    )
  return ok(`version ${version}, ${threshold} of ${members.length}, this relayer among them`)
}

async function startBlockCheck(c: PublicClient, config: EvmChainConfig) {
  const head = await c.getBlockNumber()
  if (config.startBlock > head)
    return problem(
      `startBlock ${config.startBlock} is past the head ${head}`,
      "set it to the escrow's deployment block",
    )
  if (config.startBlock === 0n && head > 100_000n)
    return warn(
      `startBlock 0 on a chain at block ${head}: the first sync reads every block since genesis`,
      "set startBlock to the escrow's deployment block, or point the chain at its deployment record",
    )
  return ok(`${head - config.startBlock} blocks from startBlock ${config.startBlock} to the head`)
}

async function gasCheck(c: PublicClient, config: EvmChainConfig, signer: Address) {
  const balance = await c.getBalance({ address: signer })
  const one = config.submitter.maxSettlementGas * config.submitter.maxFeePerGasWei
  if (balance < one)
    return problem(
      `${formatEther(balance)} native: less than one settlement at the fee cap (${formatEther(one)})`,
      `fund ${signer} with at least ${formatEther(one * SETTLEMENTS_FUNDED)}`,
    )
  if (balance < one * SETTLEMENTS_FUNDED)
    return warn(
      `${formatEther(balance)} native: fewer than ${SETTLEMENTS_FUNDED} settlements at the fee cap`,
      `fund ${signer} with at least ${formatEther(one * SETTLEMENTS_FUNDED)}`,
    )
  return ok(`${formatEther(balance)} native`)
}
