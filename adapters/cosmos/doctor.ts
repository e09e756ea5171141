import { GasPrice, StargateClient, calculateFee } from '@cosmjs/stargate'
import { check, eachRpc, ok, problem, warn } from '../../src/doctor/checks.js'
import type { DoctorCheck } from '../../src/family.js'
import type { CosmosChainConfig } from './config.js'
import { cometClient } from './rpc.js'

/** Releases the fee reserve should pay for before the doctor warns. */
const RELEASES_FUNDED = 20n

/** `qantara doctor` on a Cosmos chain: its RPCs, the vault's account and fee reserve, and the node's transaction index the watcher reads. */
export async function cosmosDoctor(config: CosmosChainConfig): Promise<DoctorCheck[]> {
  const clientOf = async (url: string) =>
    StargateClient.create(await cometClient({ url, timeoutMs: config.rpcTimeoutMs }))
  const { checks, live } = await eachRpc(config.id, config.rpc, async (url) => {
    const client = await clientOf(url)
    try {
      return { served: `cosmos:${await client.getChainId()}`, head: String(await client.getHeight()) }
    } finally {
      client.disconnect()
    }
  })
  if (!live) return checks
  const client = await clientOf(live)
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
          await client.searchTx(`transfer.recipient='${config.vault}'`)
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
