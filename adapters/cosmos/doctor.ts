import { GasPrice, StargateClient, calculateFee } from '@cosmjs/stargate'
import { check, eachRpc, ok, problem, warn } from '../../src/doctor/checks.js'
import type { DoctorCheck, DoctorQuorum } from '../../src/family.js'
import type { CosmosChainConfig } from './config.js'
import { cometClient } from './rpc.js'

/** Releases the fee reserve should pay for before the doctor warns. */
const RELEASES_FUNDED = 20n

/** `qantara doctor` on a Cosmos chain: its RPCs, the vault's account and fee reserve, and the node's transaction index the watcher reads. */
export async function cosmosDoctor(config: CosmosChainConfig, quorum: DoctorQuorum): Promise<DoctorCheck[]> {
  const clientOf = async (url: string) =>
    StargateClient.create(await cometClient({ urls: [url], timeoutMs: config.rpcTimeoutMs }))
  const { checks, live } = await eachRpc(config.id, config.rpc, async (url) => {
    const client = await clientOf(url)
    try {
      return { served: `cosmos:${await client.getChainId()}`, head: String(await client.getHeight()) }
    } finally {
      client.disconnect()
    }
  })
  checks.push(await check(`${config.id} multisig`, () => Promise.resolve(multisigCheck(config, quorum))))
  if (!live) return checks
  const comet = await cometClient({ urls: [live], timeoutMs: config.rpcTimeoutMs })
  const client = StargateClient.create(comet)
  try {
    const price = GasPrice.fromString(config.gasPrice)
    const oneFee = BigInt(calculateFee(config.gasLimit, price).amount[0]!.amount)
    checks.push(
      await check(`${config.id} vault ${config.vault}`, async () => {
        const account = await client.getAccount(config.vault)
        const reserve = BigInt((await client.getBalance(config.vault, price.denom)).amount)
        const fix = `send the vault at least ${oneFee * RELEASES_FUNDED}${price.denom}: \`qantara vault init cosmos --fee-reserve\``
        if (!account || reserve < oneFee)
          return problem(
            `${account ? 'holds' : 'has no account yet and'} ${reserve}${price.denom} for fees: not one release's (${oneFee}${price.denom})`,
            fix,
          )
        if (reserve < oneFee * RELEASES_FUNDED)
          return warn(`${reserve}${price.denom} for fees: fewer than ${RELEASES_FUNDED} releases`, fix)
        return ok(`${reserve}${price.denom} for fees, ${reserve / oneFee} releases`)
      }),
    )
    checks.push(
      await check(
        `${config.id} transaction index`,
        async () => {
          // One page of one: cosmjs's searchTx reads every page a node says there are, which a node could make endless.
          await comet.txSearch({ query: `transfer.recipient='${config.vault}'`, per_page: 1, page: 1 })
          return ok("the node answers searches of the vault's transactions")
        },
        'use a node with its transaction index on (config.toml: [tx_index] indexer = "kv")',
      ),
    )
  } finally {
    client.disconnect()
  }
  return checks
}

/** The vault's multisig is exactly the quorum's keys, at its threshold: no key outside the quorum can release. */
function multisigCheck(config: CosmosChainConfig, quorum: DoctorQuorum) {
  const keys = config.multisig.pubkeys
  const configured = quorum.members.flatMap((m) => (m.cosmos ? [m.cosmos] : []))
  const unknown = keys.filter((k) => !configured.includes(k))
  if (unknown.length)
    return problem(
      `the vault's multisig also holds ${unknown.join(', ')}, which no quorum member names: it is not this quorum's alone`,
      'use a vault made for exactly this quorum (`qantara vault init cosmos`)',
    )
  const missing = configured.filter((k) => !keys.includes(k))
  if (missing.length)
    return problem(
      `quorum.members name ${missing.join(', ')}, which the vault's multisig does not hold`,
      "make quorum.members the multisig's keys",
    )
  if (config.multisig.threshold !== quorum.threshold)
    return problem(
      `the vault's multisig needs ${config.multisig.threshold} signatures; quorum.threshold says ${quorum.threshold}`,
      `set quorum.threshold to ${config.multisig.threshold}`,
    )
  return ok(`${config.multisig.threshold} of ${keys.length}, exactly the quorum's keys`)
}
