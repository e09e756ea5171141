import { BITCOIN_CHAIN_IDS, BITCOIN_PARAMS, type BitcoinConfig } from '../../adapters/bitcoin/config.js'
import { EsploraClient } from '../../adapters/bitcoin/esplora.js'
import { BtcPayoutWatcher } from '../../adapters/bitcoin/payoutWatcher.js'
import { buildSpvProof } from '../../adapters/bitcoin/proofBuilder.js'
import { checkPayout } from '../../adapters/bitcoin/payoutCheck.js'
import { retargetHeaders } from '../../adapters/bitcoin/retargetHeaders.js'
import { BitcoinRpc } from '../../adapters/bitcoin/rpc.js'
import type { BitcoinChainSource } from '../../adapters/bitcoin/source.js'
import type { BtcPayoutRail } from '../btcRail.js'
import { readSecret, type KeySource } from '../config/keySource.js'
import { QantaraError } from '../errors.js'
import type { Store } from '../store/store.js'

/** The Bitcoin payout rail of a relayer whose config has a `bitcoin` section. */
export function buildBtcRail(
  b: BitcoinConfig | undefined,
  store: Store,
  env: NodeJS.ProcessEnv,
  baseDir: string,
): BtcPayoutRail | undefined {
  if (!b) return undefined
  const source: BitcoinChainSource = b.rpc ? bitcoinRpc(b.rpc, env, baseDir) : new EsploraClient(b.esplora!)
  const chain = BITCOIN_CHAIN_IDS[b.network]
  const watcher = new BtcPayoutWatcher({
    chain,
    source,
    confirmations: b.confirmations,
    startHeight: b.startHeight,
    isWatched: async (orderId) => (await store.getOrder(orderId))?.terms.btc !== undefined,
  })
  const params = BITCOIN_PARAMS[b.network]
  return {
    chain,
    watcher,
    confirmations: b.confirmations,
    pollIntervalMs: b.pollIntervalMs,
    buildProof: (txid, blockHash, signal) =>
      buildSpvProof(source, params, txid, blockHash, b.confirmations, signal),
    checkPayout: (txid, blockHash, signal) =>
      checkPayout(source, params, txid, blockHash, b.confirmations, signal),
    retargetHeaders: (epoch, proofLength, signal) =>
      retargetHeaders(source, params, epoch, proofLength, b.confirmations, signal),
  }
}

/** A secret that is text, not a key file format: from { env } or { file } only. */
export function plainSecret(
  source: KeySource,
  what: string,
  env: NodeJS.ProcessEnv,
  baseDir: string,
): string {
  const m = readSecret(source, env, baseDir)
  if (m.kind !== 'hex')
    throw new QantaraError('CONFIG_INVALID', `${what} is read from { env } or { file }, not a keystore`)
  return m.value
}

export function bitcoinRpc(
  rpc: NonNullable<BitcoinConfig['rpc']>,
  env: NodeJS.ProcessEnv,
  baseDir: string,
): BitcoinRpc {
  return new BitcoinRpc({
    url: rpc.url,
    user: rpc.user,
    password: plainSecret(rpc.password, 'bitcoin.rpc.password', env, baseDir),
    timeoutMs: rpc.timeoutMs,
  })
}
