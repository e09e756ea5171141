import { createMultisigThresholdPubkey, parseCoins, pubkeyToAddress } from '@cosmjs/amino'
import { SigningStargateClient, StargateClient, calculateFee, GasPrice } from '@cosmjs/stargate'
import { sha256 } from '@noble/hashes/sha2'
import { TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx.js'
import type { SecretMaterial } from '../../src/config/keySource.js'
import { DEPLOYMENT_FORMAT, type DeploymentRecord, type DeploymentRun } from '../../src/config/deployment.js'
import { QantaraError } from '../../src/errors.js'
import { cosmosKeyFromSecret } from './keys.js'
import { cometClient } from './rpc.js'

/** A Cosmos vault: the quorum's amino threshold multisig account, with a fee reserve it pays its releases' fees from. */
export interface CosmosVaultPlan {
  /** The members' compressed secp256k1 keys, base64, any order: the multisig sorts them as `simd keys add --multisig` does. */
  members: string[]
  threshold: number
  /** The chain's bech32 account prefix. */
  prefix: string
  /** Coins the payer sends the vault for release fees (`5000000uatom`), where it holds less of that denom. */
  feeReserve?: { amount: string; denom: string; gasPrice: string; payer: SecretMaterial }
}

export interface CosmosVaultInitOptions extends DeploymentRun {
  rpcUrl: string
  /** cosmos:<chain-id>: the RPC must serve it. */
  chain: string
  plan: CosmosVaultPlan
}

/**
 * Derives the vault's address from the members' keys (there is nothing to
 * create on chain: the account exists once it holds coins) and tops up its
 * fee reserve. A re-run recomputes the same address and sends only what the
 * reserve lacks; the fee transaction's hash is recorded before it is sent.
 */
export async function initCosmosVault(
  o: CosmosVaultInitOptions,
): Promise<{ record: DeploymentRecord; vault: string }> {
  const { plan } = o
  if (plan.threshold < 1 || plan.threshold > plan.members.length)
    throw new QantaraError('CONFIG_INVALID', `threshold ${plan.threshold} of ${plan.members.length} members`)
  if (new Set(plan.members).size !== plan.members.length)
    throw new QantaraError('CONFIG_INVALID', 'a member key is listed twice')
  const multisig = createMultisigThresholdPubkey(
    plan.members.map((value) => ({ type: 'tendermint/PubKeySecp256k1', value })),
    plan.threshold,
  )
  const vault = pubkeyToAddress(multisig, plan.prefix)
  const pubkeys = multisig.value.pubkeys.map((p) => p.value)
  const client = StargateClient.create(await cometClient({ urls: [o.rpcUrl], timeoutMs: 15_000 }))
  try {
    const served = `cosmos:${await client.getChainId()}`
    if (served !== o.chain)
      throw new QantaraError('RPC_WRONG_CHAIN', `the RPC serves ${served}, not ${o.chain}`)
    const state = (o.record?.state ?? {}) as { vault?: string; startHeight?: number; feeTxs?: string[] }
    if (o.record && (o.record.chain !== o.chain || state.vault !== vault))
      throw new QantaraError('CONFIG_INVALID', 'the record is of another vault: give another --out')
    const startHeight = state.startHeight ?? (await client.getHeight())
    const feeTxs = [...(state.feeTxs ?? [])]
    const record = (): DeploymentRecord => ({
      format: DEPLOYMENT_FORMAT,
      family: 'cosmos',
      chain: o.chain,
      config: { vault, multisig: { threshold: plan.threshold, pubkeys }, startHeight },
      members: {},
      state: { vault, startHeight, feeTxs },
    })
    o.save(record())
    const reserve = plan.feeReserve
    if (!reserve) return { record: record(), vault }
    // The reserve is topped up to the amount asked: a re-run after releases spent some sends the difference.
    const held = BigInt((await client.getBalance(vault, reserve.denom)).amount)
    if (held >= BigInt(reserve.amount)) {
      o.log(`the vault holds ${held}${reserve.denom} for fees`)
      return { record: record(), vault }
    }
    const feeTx = await fundReserve(
      o.rpcUrl,
      vault,
      BigInt(reserve.amount) - held,
      reserve,
      plan.prefix,
      (hash) => {
        feeTxs.push(hash)
        o.save(record())
      },
    )
    o.log(`sent ${BigInt(reserve.amount) - held}${reserve.denom} to the vault for fees: ${feeTx}`)
    return { record: record(), vault }
  } finally {
    client.disconnect()
  }
}

async function fundReserve(
  rpcUrl: string,
  vault: string,
  amount: bigint,
  reserve: NonNullable<CosmosVaultPlan['feeReserve']>,
  prefix: string,
  sending: (hash: string) => void,
): Promise<string> {
  const key = cosmosKeyFromSecret(reserve.payer, prefix)
  const client = SigningStargateClient.createWithSigner(
    await cometClient({ urls: [rpcUrl], timeoutMs: 15_000 }),
    await key.aminoSigner(),
    { broadcastPollIntervalMs: 500, broadcastTimeoutMs: 90_000 },
  )
  try {
    const coins = parseCoins(`${amount}${reserve.denom}`)
    const msg = {
      typeUrl: '/cosmos.bank.v1beta1.MsgSend',
      value: { fromAddress: key.address, toAddress: vault, amount: coins },
    }
    const fee = calculateFee(200_000, GasPrice.fromString(reserve.gasPrice))
    // Signed at the payer's sequence on chain, never one ahead: a transfer an earlier run left in flight has the
    // same sequence or an older one, so at most one of them lands, and the balance read next time tells.
    const account = await client.getAccount(key.address)
    if (!account)
      throw new QantaraError('CONFIG_INVALID', `the payer ${key.address} has no account on this chain`)
    const signed = await client.sign(key.address, [msg], fee, 'qantara vault fee reserve', {
      accountNumber: account.accountNumber,
      sequence: account.sequence,
      chainId: await client.getChainId(),
    })
    const bytes = TxRaw.encode(signed).finish()
    const hash = Buffer.from(sha256(bytes)).toString('hex').toUpperCase()
    sending(hash)
    const result = await client.broadcastTx(bytes)
    if (result.code !== 0)
      throw new QantaraError(
        'SUBMIT_REVERTED',
        `the fee reserve transfer ${hash} failed: ${result.rawLog ?? result.code}`,
        {
          context: { revert: `code ${result.code}` },
        },
      )
    return hash
  } finally {
    client.disconnect()
  }
}
