import { fromBase64 } from '@cosmjs/encoding'
import PQueue from 'p-queue'
import type { ChainId } from '../../src/caip2.js'
import type { VaultChainRuntime, Cosigner, SettlementSignature } from '../../src/chains.js'
import { QantaraError } from '../../src/errors.js'
import type { RpcObserver } from '../../src/http/endpointFailover.js'
import type { CometClient } from '@cosmjs/tendermint-rpc'
import { cometClient } from './rpc.js'
import type { Logger } from '../../src/log.js'
import type { Settlement } from '../../src/settlement.js'
import { settlementHash } from '../../src/settlementWire.js'
import type { Store } from '../../src/store/store.js'
import { isRefundOrder } from '../../src/vault/refund.js'
import { VaultRelease } from '../../src/vault/release.js'
import { prefixOf, type CosmosChainConfig } from './config.js'
import { cosmosReleaseMessages } from './cosign.js'
import { cosmosAddress, cosmosVerify, type CosmosKey } from './keys.js'
import { releaseFee } from './release.js'
import { cosmosReleaseSender } from './releaseSender.js'
import { cosmosReleaseVault, cosmosVaultAccount } from './vaultAccount.js'
import { cosmosWatcherOf } from './watcherOf.js'

/** Releases built in a row that each lost the vault's sequence to another transaction before this call gives up (the relayer retries later). */
const MAX_ROUNDS = 4

export interface CosmosRuntimeOptions {
  config: CosmosChainConfig
  key: CosmosKey
  /** Quorum member id → its Cosmos public key (base64). */
  members: ReadonlyMap<string, string>
  store: Store
  logger: Logger
  cosign: Cosigner
  observeRpc?: RpcObserver
  /** How often a sent release's fate is read. */
  pollMs?: number
}

/**
 * One Cosmos vault chain: the vault watcher, settlement attestations under
 * the relayer's secp256k1 key, and releases signed by a threshold of the
 * vault's multisig in amino-JSON (`src/vault/release.ts`).
 *
 * The vault has one account sequence, and a signed transaction can only land
 * at the sequence it was signed for. So every member, before it signs an
 * order's release at sequence s, requires s to be the vault's sequence now
 * and its own watcher to have read the vault's transaction at s − 1: every
 * release that could have landed before is then in its store, and if one of
 * them paid this order it refuses. Two releases of one order can never both
 * land, whoever builds them. A release that loses its sequence to another
 * transaction, or outlives its timeout height, is rebuilt at the next one.
 */
export function cosmosRuntime(o: CosmosRuntimeOptions): VaultChainRuntime {
  const config = o.config
  const chain = config.id as ChainId
  const chainId = config.id.slice('cosmos:'.length)
  const prefix = prefixOf(config.vault)
  const fee = releaseFee(config)
  const feeCoin = fee.amount[0]
  const pollMs = o.pollMs ?? 500
  const log = o.logger.child({ module: 'cosmos-runtime', chain })
  const signerKeys = new Map(
    config.multisig.pubkeys.map((k) => [cosmosAddress(fromBase64(k), prefix), fromBase64(k)]),
  )
  const vault = cosmosVaultAccount({
    config,
    fee,
    store: o.store,
    logger: o.logger,
    ...(o.observeRpc ? { observeRpc: o.observeRpc } : {}),
  })
  const release = new VaultRelease({
    chain,
    self: o.key.address,
    store: o.store,
    cosigners: {
      cosign: o.cosign,
      memberOf: new Map([...o.members].map(([id, k]) => [cosmosAddress(fromBase64(k), prefix), id])),
      addressKind: 'Cosmos',
    },
    // Any threshold of signatures over the one sign document completes a release.
    signersInMessage: false,
    // Found released only once the watcher read the vault up to its sequence: remembered.
    remembersRelease: true,
    onLost: {
      then: 'rebuild',
      rounds: MAX_ROUNDS,
      rebuilding: (orderId, sent) =>
        log.info(
          { orderId, hash: sent.hash, sequence: sent.sequence },
          'release did not land at its sequence; rebuilding',
        ),
      exhausted: (orderId) =>
        new QantaraError(
          'SUBMIT_FAILED',
          `the release of ${orderId} lost the vault's sequence to other transactions ${MAX_ROUNDS} times in a row`,
          { retryable: true },
        ),
    },
    vault: cosmosReleaseVault({ config, vault, signers: [...signerKeys.keys()], pollMs }),
    messages: cosmosReleaseMessages({ config, key: o.key, fee, vault, signerKeys }),
    sender: cosmosReleaseSender({ vault, log, pollMs }),
  })
  // One release in flight per relayer: its own releases would otherwise race each other for the vault's sequence.
  const serial = new PQueue({ concurrency: 1 })
  const statement = (settlement: Settlement) =>
    `qantara/cosmos-settlement/v1:${chainId}:${config.vault}:${settlementHash(settlement)}`
  const attestation = (settlement: Settlement) => new TextEncoder().encode(statement(settlement))

  // The watcher's own client, each poll's calls all to one node: a poll checks that a node has indexed a height,
  // then searches it, and a search answered by another node, behind, would skip deposits for good.
  let watcherComet: Promise<CometClient> | undefined
  const watcherNode = () =>
    (watcherComet ??= cometClient({
      urls: config.rpc,
      timeoutMs: config.rpcTimeoutMs,
      chain,
      logger: o.logger,
      onePerCall: true,
      ...(o.observeRpc ? { observe: o.observeRpc } : {}),
    }).catch((err: unknown) => {
      watcherComet = undefined
      throw err
    }))
  return {
    chain,
    kind: 'vault',
    // The vault pays its releases' fees from its reserve: that is what runs out, not the relayer's key.
    ...(feeCoin && BigInt(feeCoin.amount) > 0n
      ? {
          async funds() {
            const held = await (await vault.client()).getBalance(config.vault, feeCoin.denom)
            return {
              account: config.vault,
              settlements: Number(BigInt(held.amount) / BigInt(feeCoin.amount)),
            }
          },
        }
      : {}),
    watcher: cosmosWatcherOf(config, watcherNode, o.store, o.logger),
    feeRecipient: config.feeRecipient ?? '',
    maxLag: BigInt(config.maxLagBlocks),
    pollIntervalMs: config.pollIntervalMs,

    signSettlement(_order, settlement): Promise<SettlementSignature> {
      return Promise.resolve({
        signer: o.key.address,
        signature: Buffer.from(o.key.sign(attestation(settlement))).toString('hex'),
      })
    },

    settlementStatement: (settlement) => ({
      scheme: 'secp256k1-sha256',
      message: statement(settlement),
      publicKeys: Object.fromEntries(o.members),
    }),

    verifySettlementSignature(_order, settlement, relayerId, sig) {
      const key = o.members.get(relayerId)
      if (key === undefined || !/^[0-9a-f]{128}$/.test(sig.signature)) return Promise.resolve(false)
      const pubkey = fromBase64(key)
      return Promise.resolve(
        sig.signer === cosmosAddress(pubkey, prefix) &&
          cosmosVerify(pubkey, attestation(settlement), Buffer.from(sig.signature, 'hex')),
      )
    },

    submitSettlement(order, settlement, signatures, signal) {
      // Orders' releases go ahead of refunds waiting for the vault's sequence: a flood of stray deposits never delays a real order.
      return serial.add(() => release.submit(order, settlement, signatures, signal), {
        priority: isRefundOrder(order) ? 0 : 1,
      })
    },
    cosignRelease: (order, settlement, message, leg) => release.cosign(order, settlement, message, leg),
    releaseBtcShare: (order, settlement, leg, signal) =>
      serial.add(() => release.submit(order, settlement, [], signal, leg), { priority: 1 }),
  }
}
