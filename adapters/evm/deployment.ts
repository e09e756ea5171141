import {
  encodeDeployData,
  encodeFunctionData,
  getContractAddress,
  isAddressEqual,
  type Account,
  type Address,
  type Chain,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { DEPLOYMENT_FORMAT, type DeploymentRecord, type DeploymentRun } from '../../src/config/deployment.js'
import { QantaraError, errorMessage } from '../../src/errors.js'
import { btcLightRelayAbi, btcLightRelayBytecode } from './contracts/artifacts/BtcLightRelay.js'
import { qantaraEscrowAbi, qantaraEscrowBytecode } from './contracts/artifacts/QantaraEscrow.js'
import {
  NETWORK,
  defaultMaxPayoutSats,
  escrowConstructorArgs,
  type BtcEscrowParameters,
  type BtcGenesis,
} from './deploy.js'
import { sortAddresses } from './eip712.js'
import { NonceTaken, txSender, type EvmDeploymentState } from './deploymentTx.js'

type Wallet = WalletClient<Transport, Chain, Account>

/** What `qantara deploy evm` deploys: an escrow for the quorum, and for BTC payouts its light relay, anchored. */
export interface EvmDeploymentPlan {
  relayers: Address[]
  threshold: number
  maxFeeBps: number
  reclaimGrace: bigint
  btc?: BtcEscrowParameters & { genesis: BtcGenesis; owner?: Address }
}

export interface EvmDeployOptions extends DeploymentRun {
  wallet: Wallet
  publicClient: PublicClient
  plan: EvmDeploymentPlan
  /** How long to wait for one transaction to be mined. */
  receiptTimeoutMs?: number
}

export interface EvmDeployed {
  record: DeploymentRecord
  escrow: Address
  /** The escrow's first block: where its relayers' watchers start. */
  startBlock: bigint
  relay?: Address
}

/** Deploys what `plan` names, or finishes a deployment a crash interrupted; re-run on a done record, it only checks. */
export async function deployEvm(o: EvmDeployOptions): Promise<EvmDeployed> {
  const { wallet, publicClient, plan } = o
  const deployer = wallet.account.address
  const chain = `eip155:${await publicClient.getChainId()}`
  const planText = canonicalPlan(plan)
  if (o.record && o.record.chain !== chain)
    throw new QantaraError('RPC_WRONG_CHAIN', `the record is of ${o.record.chain}; this RPC serves ${chain}`)
  let state = o.record?.state as EvmDeploymentState | undefined
  if (state && JSON.stringify(state.plan) !== planText)
    throw new QantaraError(
      'CONFIG_INVALID',
      'the record is of another deployment (relayers, threshold or parameters differ): give another --out',
    )
  if (state && !isAddressEqual(state.deployer, deployer))
    throw new QantaraError(
      'CONFIG_INVALID',
      `the record was deployed from ${state.deployer}, not ${deployer}`,
    )
  const relayAt = (s: EvmDeploymentState) =>
    getContractAddress({ from: deployer, nonce: BigInt(s.firstNonce) })
  const escrowAt = (s: EvmDeploymentState) =>
    getContractAddress({ from: deployer, nonce: BigInt(s.firstNonce + (plan.btc ? 1 : 0)) })
  const record = (s: EvmDeploymentState, escrowBlock?: bigint): DeploymentRecord => ({
    format: DEPLOYMENT_FORMAT,
    family: 'evm',
    chain,
    // A finished record keeps its fields while a re-run checks it: relayers read it meanwhile.
    config:
      escrowBlock === undefined
        ? (o.record?.config ?? {})
        : { escrow: escrowAt(s), startBlock: escrowBlock.toString() },
    members: {},
    state: { ...s, ...(s.relay ? { btcRelay: relayAt(s) } : {}) },
  })
  const save = (s: EvmDeploymentState) => o.save(record(s))
  const pending = () => publicClient.getTransactionCount({ address: deployer, blockTag: 'pending' })
  state ??= { deployer, plan: JSON.parse(planText), firstNonce: await pending() }
  save(state)
  const sender = txSender(o, deployer)
  const hasCode = async (at: Address) => ((await publicClient.getCode({ address: at })) ?? '0x') !== '0x'

  for (let attempt = 0; ; attempt++) {
    const s: EvmDeploymentState = state
    try {
      if (plan.btc) {
        const data = encodeDeployData({
          abi: btcLightRelayAbi,
          bytecode: btcLightRelayBytecode,
          args: [NETWORK[plan.btc.network], escrowAt(s)],
        })
        await sender.once(s, 'relay', { data, nonce: s.firstNonce }, () => hasCode(relayAt(s)), save)
      }
      const escrowData = encodeDeployData({
        abi: qantaraEscrowAbi,
        bytecode: qantaraEscrowBytecode,
        args: escrowConstructorArgs({ ...plan, btc: plan.btc && { ...plan.btc, relay: relayAt(s) } }),
      })
      const escrowNonce = s.firstNonce + (plan.btc ? 1 : 0)
      await sender.once(
        s,
        'escrow',
        { data: escrowData, nonce: escrowNonce },
        () => hasCode(escrowAt(s)),
        save,
      )
      break
    } catch (err) {
      // Another transaction took a planned nonce: the addresses the plan bound together are lost; plan anew.
      if (!(err instanceof NonceTaken) || attempt >= 2 || (await hasCode(escrowAt(s)))) throw err
      o.log(`${errorMessage(err)}: deploying again from the next free nonce`)
      state = { deployer, plan: JSON.parse(planText), firstNonce: await pending() }
      save(state)
    }
  }
  const s: EvmDeploymentState = state
  if (plan.btc) await anchorRelay(o, sender, s, relayAt(s), save)
  const block = (await publicClient.getTransactionReceipt({ hash: s.escrow!.hash })).blockNumber
  await checkDeployed(publicClient, escrowAt(s), plan, relayAt(s))
  const done = record(s, block)
  o.save(done)
  return { record: done, escrow: escrowAt(s), startBlock: block, ...(plan.btc ? { relay: relayAt(s) } : {}) }
}

/** The relay's genesis, then its ownership handed over where the plan names an owner; each skipped once done. */
async function anchorRelay(
  o: EvmDeployOptions,
  sender: ReturnType<typeof txSender>,
  s: EvmDeploymentState,
  relay: Address,
  save: (s: EvmDeploymentState) => void,
): Promise<void> {
  const btc = o.plan.btc!
  const read = <T>(functionName: 'ready' | 'owner') =>
    o.publicClient.readContract({ address: relay, abi: btcLightRelayAbi, functionName }) as Promise<T>
  const { header, height, proofLength } = btc.genesis
  const genesis = encodeFunctionData({
    abi: btcLightRelayAbi,
    functionName: 'genesis',
    args: [header, BigInt(height), BigInt(proofLength)],
  })
  await sender.once(s, 'genesis', { data: genesis, to: relay }, () => read<boolean>('ready'), save)
  const owner = btc.owner
  if (!owner) return
  const transfer = encodeFunctionData({
    abi: btcLightRelayAbi,
    functionName: 'transferOwnership',
    args: [owner],
  })
  await sender.once(
    s,
    'owner',
    { data: transfer, to: relay },
    async () => isAddressEqual(await read<Address>('owner'), owner),
    save,
  )
}

/** Reads back what was deployed: a record is written as done only for contracts that hold what the plan asked. */
async function checkDeployed(
  publicClient: PublicClient,
  escrow: Address,
  plan: EvmDeploymentPlan,
  relay: Address,
): Promise<void> {
  const [version, relayers, threshold] = await publicClient.readContract({
    address: escrow,
    abi: qantaraEscrowAbi,
    functionName: 'relayerSet',
  })
  const want = sortAddresses(plan.relayers)
  // A set rotated since (version past 1) is the quorum's business, not a broken deployment.
  if (
    version === 1n &&
    (threshold !== plan.threshold ||
      relayers.length !== want.length ||
      relayers.some((r, i) => !isAddressEqual(r, want[i]!)))
  )
    throw new QantaraError(
      'RPC_BAD_RESPONSE',
      `the escrow at ${escrow} holds relayers ${relayers.join(', ')} with threshold ${threshold}, not the plan's: this is not the deployment recorded`,
    )
  const bound = await publicClient.readContract({
    address: escrow,
    abi: qantaraEscrowAbi,
    functionName: 'btcRelay',
  })
  if (plan.btc && !isAddressEqual(bound, relay))
    throw new QantaraError(
      'RPC_BAD_RESPONSE',
      `the escrow at ${escrow} is bound to relay ${bound}, not ${relay}`,
    )
}

/** The plan as canonical text: relayers sorted and checksummed, amounts as decimal strings. */
function canonicalPlan(p: EvmDeploymentPlan): string {
  return JSON.stringify({
    relayers: sortAddresses(p.relayers),
    threshold: p.threshold,
    maxFeeBps: p.maxFeeBps,
    reclaimGrace: p.reclaimGrace.toString(),
    btc: p.btc && {
      network: p.btc.network,
      confirmations: p.btc.confirmations,
      maxPayoutSats: (p.btc.maxPayoutSats ?? defaultMaxPayoutSats(p.btc.confirmations)).toString(),
      genesis: p.btc.genesis,
      owner: p.btc.owner ?? null,
    },
  })
}
