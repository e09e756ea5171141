import { isBtcLeg, type ReleaseLeg } from '../../src/vault/releaseLeg.js'
import type { StdFee } from '@cosmjs/amino'
import { StargateClient } from '@cosmjs/stargate'
import type { CometClient } from '@cosmjs/tendermint-rpc'
import { abortableDelay } from '../../src/abort.js'
import type { ChainId } from '../../src/caip2.js'
import { QantaraError } from '../../src/errors.js'
import type { Hex32, OrderTerms } from '../../src/order.js'
import type { Store } from '../../src/store/store.js'
import type { ReleaseRound, ReleaseVault } from '../../src/vault/releaseFamily.js'
import { vaultMultisig, type CosmosChainConfig } from './config.js'
import type { CosmosVaultState } from './release.js'
import { cometClient } from './rpc.js'
import type { RpcObserver } from '../../src/http/endpointFailover.js'
import type { Logger } from '../../src/log.js'

/** How long a submitter waits for its own watcher to read the vault's last transaction before it gives the order back to the relayer's retries. */
const CATCH_UP_MS = 30_000

/** Where an order stands before the vault's sequence `s`: released by a transaction before it, open, or 'behind' while this relayer cannot tell yet. */
export type ReleasedBefore = 'released' | 'open' | 'behind'

/** A Cosmos release round: the vault's account at the sequence the release takes, its fee and timeout height. */
export interface CosmosRound extends ReleaseRound {
  readonly vault: CosmosVaultState
}

/** The vault account as the release protocol reads it, over one node connection made on first use. */
export interface CosmosVaultAccount {
  node(): Promise<CometClient>
  client(): Promise<StargateClient>
  height(): Promise<number>
  account(): Promise<{ accountNumber: number; sequence: number }>
  /** The transaction that took the vault's sequence `sequence`, from the node's index of x/auth's `tx.acc_seq`. */
  tookSequence(sequence: number): Promise<{ hash: string; height: number } | undefined>
  /**
   * Whether the order was released by a transaction before `sequence`: only once this relayer's watcher has read
   * the vault's transaction at sequence − 1 is every release that could have landed before in its store.
   */
  releasedBefore(orderId: Hex32, sequence: number, leg: ReleaseLeg): Promise<ReleasedBefore>
  /** The vault as a release at `sequence` is signed for. */
  stateAt(accountNumber: number, sequence: number, timeoutHeight: bigint): CosmosVaultState
}

export function cosmosVaultAccount(o: {
  config: CosmosChainConfig
  fee: StdFee
  store: Pick<Store, 'getCheckpoint' | 'listOrderEvents'>
  logger?: Logger
  observeRpc?: RpcObserver
}): CosmosVaultAccount {
  const { config } = o
  const chain = config.id as ChainId
  const multisig = vaultMultisig(config)
  let comet: Promise<CometClient> | undefined
  let stargate: { over: CometClient; client: StargateClient } | undefined
  const node = () =>
    (comet ??= cometClient({
      urls: config.rpc,
      timeoutMs: config.rpcTimeoutMs,
      chain: config.id,
      ...(o.logger ? { logger: o.logger } : {}),
      ...(o.observeRpc ? { observe: o.observeRpc } : {}),
    }).catch((err: unknown) => {
      comet = undefined
      throw err
    }))
  const client = async () => {
    const over = await node()
    if (stargate?.over !== over) stargate = { over, client: StargateClient.create(over) }
    return stargate.client
  }
  const tookSequence = async (sequence: number) => {
    const found = (
      await (await node()).txSearch({ query: `tx.acc_seq='${config.vault}/${sequence}'`, per_page: 1 })
    ).txs[0]
    return found && { hash: Buffer.from(found.hash).toString('hex').toUpperCase(), height: found.height }
  }
  return {
    node,
    client,
    height: async () => (await client()).getHeight(),
    async account() {
      const found = await (await client()).getAccount(config.vault)
      if (!found)
        throw new QantaraError(
          'SUBMIT_FAILED',
          `vault ${config.vault} has no account on ${chain}: nothing was ever paid into it`,
          { retryable: true },
        )
      return { accountNumber: found.accountNumber, sequence: found.sequence }
    },
    tookSequence,
    async releasedBefore(orderId, sequence, leg) {
      if (sequence > 0) {
        const last = await tookSequence(sequence - 1)
        const read = await o.store.getCheckpoint(chain)
        if (!last || !read || read.height < BigInt(last.height)) return 'behind'
      }
      const kind = isBtcLeg(leg) ? 'VaultBtcShareReleased' : 'VaultReleased'
      return (await o.store.listOrderEvents(chain, orderId)).some((e) => e.kind === kind)
        ? 'released'
        : 'open'
    },
    stateAt: (accountNumber, sequence, timeoutHeight) => ({
      chainId: config.id.slice('cosmos:'.length),
      address: config.vault,
      pubkey: multisig,
      accountNumber,
      sequence,
      fee: o.fee,
      timeoutHeight,
    }),
  }
}

/**
 * Where a new release starts: at the vault's sequence now, once this relayer's watcher has read the transaction
 * before it, and not at all when one of those released the order.
 */
export function cosmosReleaseVault(o: {
  config: CosmosChainConfig
  vault: CosmosVaultAccount
  signers: readonly string[]
  pollMs: number
}): ReleaseVault<CosmosRound> {
  return {
    async openRound(order: OrderTerms, leg: ReleaseLeg, signal?: AbortSignal) {
      let { accountNumber, sequence } = await o.vault.account()
      let state = await o.vault.releasedBefore(order.id, sequence, leg)
      // Right after a vault transaction this relayer's watcher is a poll or so behind it: worth a short wait.
      for (const until = Date.now() + CATCH_UP_MS; state === 'behind' && Date.now() < until;) {
        await abortableDelay(o.pollMs, signal)
        ;({ accountNumber, sequence } = await o.vault.account())
        state = await o.vault.releasedBefore(order.id, sequence, leg)
      }
      if (state === 'released') return 'released'
      if (state === 'behind')
        throw new QantaraError(
          'SUBMIT_FAILED',
          `the watcher has not yet read the vault's transaction at sequence ${sequence - 1}`,
          { retryable: true },
        )
      const vault = o.vault.stateAt(
        accountNumber,
        sequence,
        BigInt(await o.vault.height()) + BigInt(o.config.timeoutBlocks),
      )
      return {
        threshold: o.config.multisig.threshold,
        signers: o.signers,
        pinned: `at sequence ${sequence}`,
        vault,
      }
    },
  }
}
