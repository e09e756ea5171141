import { BtcWallet } from '../../adapters/bitcoin/wallet.js'
import { startAnvil, type Anvil } from '../chains/anvil.js'
import { startBtcd, type Btcd } from '../chains/btcd.js'
import type { LocalMarketOptions } from '../localMarket.js'
import { startDevnetCosmos, type DevnetCosmos } from './cosmos.js'
import type { DevnetOptions, Progress } from './options.js'
import { startDevnetSolana, type DevnetSolana } from './solana.js'

const BTC_CONFIRMATIONS = 6

/** The devnet's chains; each is set once it answers, so whatever started is stopped. */
export interface DevnetChains {
  anvil?: Anvil
  btcd?: Btcd
  solana?: DevnetSolana
  cosmos?: DevnetCosmos
}

/**
 * Starts anvil and the chains the options add, recording each in `chains` as
 * it comes up; returns what the market's setup needs of them.
 */
export async function startChains(
  o: DevnetOptions,
  chains: DevnetChains,
  progress: Progress,
): Promise<{ rpcUrl: string; btc?: LocalMarketOptions['btc'] }> {
  const anvil = (chains.anvil = await startAnvil({ blockTime: 1 }))
  progress(`anvil listening at ${anvil.rpcUrl}`)
  const btc = o.btc ? await startBitcoin(chains, progress) : undefined
  if (o.solana) {
    const sol = (chains.solana = await startDevnetSolana(o.relayers, o.threshold, o.btc === true))
    progress(
      `Solana (litesvm) at ${sol.local.rpcUrl}: vault ${sol.local.vault} under a ${o.threshold}-of-${o.relayers} SPL Token multisig`,
    )
  }
  if (o.cosmos) {
    const cos = (chains.cosmos = await startDevnetCosmos(o.relayers, o.threshold, o.btc === true))
    progress(
      `Cosmos (simd) at ${cos.local.rpcUrl}: vault ${cos.local.vault} under a ${o.threshold}-of-${o.relayers} amino multisig`,
    )
  }
  return { rpcUrl: anvil.rpcUrl, ...(btc ? { btc } : {}) }
}

/** btcd in regtest with the solver's wallet funded, and where the escrow's light relay starts. */
async function startBitcoin(
  chains: DevnetChains,
  progress: Progress,
): Promise<NonNullable<LocalMarketOptions['btc']>> {
  const solverWif = BtcWallet.generateWif('regtest')
  const btcd = (chains.btcd = await startBtcd({
    miningAddress: BtcWallet.fromKeyText(solverWif, 'regtest').address,
  }))
  // Segwit activates after three 144-block windows on regtest; the solver's coinbases mature at 100.
  await btcd.rpc.mine(440)
  progress(`btcd (regtest) listening at ${btcd.rpcUrl}, the solver's wallet funded`)
  const genesisHeight = await btcd.rpc.getBlockCount()
  const genesisHeader = await btcd.rpc.getBlockHeaderHex(await btcd.rpc.getBlockHash(genesisHeight))
  return {
    rpcUrl: btcd.rpcUrl,
    user: btcd.user,
    password: btcd.password,
    solverWif,
    genesisHeader,
    genesisHeight,
    confirmations: BTC_CONFIRMATIONS,
  }
}

export async function stopChains(chains: DevnetChains): Promise<void> {
  await chains.anvil?.stop()
  await chains.btcd?.stop()
  await chains.solana?.stop()
  await chains.cosmos?.stop()
}
