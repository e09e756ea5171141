import { address } from '@solana/kit'
import type { VaultChainRuntime, Cosigner, SettlementSignature } from '../../src/chains.js'
import { ed25519Verify } from '../../src/ed25519.js'
import { QantaraError } from '../../src/errors.js'
import type { RpcObserver } from '../../src/http/endpointFailover.js'
import type { Logger } from '../../src/log.js'
import type { Settlement } from '../../src/settlement.js'
import { settlementHash } from '../../src/settlementWire.js'
import type { Store } from '../../src/store/store.js'
import { VaultRelease } from '../../src/vault/release.js'
import { relayerNonceAccount, type SolanaChainConfig } from './config.js'
import { pubkeyHex, solanaReleaseMessages } from './cosign.js'
import type { SolanaKey } from './keys.js'
import { solanaReleaseSender } from './releaseSender.js'
import { RELEASE_COST_LAMPORTS } from './releaseCost.js'
import { solanaRpc } from './rpc.js'
import { solanaReleaseVault, solanaVaultAccount, type VaultAccounts } from './vaultAccount.js'
import { solanaWatcherOf } from './watcherOf.js'

export interface SolanaRuntimeOptions {
  config: SolanaChainConfig
  key: SolanaKey
  /** Quorum member id → its Solana address. */
  members: ReadonlyMap<string, string>
  store: Store
  logger: Logger
  cosign: Cosigner
  observeRpc?: RpcObserver
  /** How often a sent release's status is read. */
  pollMs?: number
}

/**
 * One Solana vault chain: the vault watcher, settlement attestations signed
 * with the relayer's Solana key, and releases co-signed by the round's
 * signers (`src/vault/release.ts`). The submitter builds the release on its
 * own durable nonce and asks the others to sign it; each of them rebuilds it
 * from its own settlement and signs only identical bytes. The release freezes
 * its order's receipt account, which makes it once-only on chain, whoever
 * sends it; an order is released when, and only when, that receipt is frozen.
 */
export function solanaRuntime(o: SolanaRuntimeOptions): VaultChainRuntime {
  const config = o.config
  const chain = config.id as `solana:${string}`
  const rpc = solanaRpc({
    urls: config.rpc,
    timeoutMs: config.rpcTimeoutMs,
    chain,
    logger: o.logger,
    ...(o.observeRpc ? { observe: o.observeRpc } : {}),
  })
  const log = o.logger.child({ module: 'solana-runtime', chain })
  const self = o.key.address
  const accounts: VaultAccounts = {
    multisig: address(config.multisig),
    mint: address(config.mint),
    receiptMint: address(config.receiptMint),
    nonceAccount: address(relayerNonceAccount(config)),
  }
  const account = solanaVaultAccount(rpc, accounts)
  const release = new VaultRelease({
    chain,
    self,
    store: o.store,
    cosigners: {
      cosign: o.cosign,
      memberOf: new Map([...o.members].map(([id, member]) => [member, id])),
      addressKind: 'Solana',
    },
    // A release names its signers: a set where one fails is replaced as a whole by the next.
    signersInMessage: true,
    // Released is read from the frozen receipt each time, never remembered.
    remembersRelease: false,
    // A release that did not land is never rebuilt here: the relayer's next try takes the nonce's new value.
    onLost: {
      then: 'retry',
      error: (_orderId, sent) =>
        new QantaraError(
          'SUBMIT_FAILED',
          `release ${sent.signature} did not land and the order is not released`,
          { retryable: true },
        ),
    },
    vault: solanaReleaseVault({ chain, self, account, accounts, store: o.store }),
    messages: solanaReleaseMessages({ config, key: o.key, account }),
    sender: solanaReleaseSender({
      rpc,
      nonceOf: (at) => account.nonceOf(at),
      nonceAccount: accounts.nonceAccount,
      log,
      pollMs: o.pollMs ?? 500,
    }),
  })
  const statement = (settlement: Settlement) =>
    `qantara/solana-settlement/v1:${config.vault}:${settlementHash(settlement)}`
  const attestation = (settlement: Settlement) => new TextEncoder().encode(statement(settlement))

  return {
    chain,
    kind: 'vault',
    async funds() {
      const { value } = await rpc.getBalance(self, { commitment: 'confirmed' }).send()
      return { account: self, settlements: Number(value / RELEASE_COST_LAMPORTS) }
    },
    watcher: solanaWatcherOf(config, rpc, o.store, o.logger),
    feeRecipient: config.feeRecipient ?? '',
    maxLag: BigInt(config.maxLagSlots),
    pollIntervalMs: config.pollIntervalMs,

    signSettlement(_order, settlement): Promise<SettlementSignature> {
      return Promise.resolve({ signer: self, signature: o.key.signer.sign(attestation(settlement)) })
    },

    settlementStatement: (settlement) => ({ scheme: 'ed25519', message: statement(settlement) }),

    verifySettlementSignature(_order, settlement, relayerId, sig) {
      const expected = o.members.get(relayerId)
      return Promise.resolve(
        expected !== undefined &&
          sig.signer === expected &&
          ed25519Verify(pubkeyHex(expected), attestation(settlement), sig.signature),
      )
    },

    submitSettlement: (order, settlement, signatures, signal) =>
      release.submit(order, settlement, signatures, signal),
    cosignRelease: (order, settlement, message, leg) => release.cosign(order, settlement, message, leg),
    releaseBtcShare: (order, settlement, leg, signal) => release.submit(order, settlement, [], signal, leg),
  }
}
