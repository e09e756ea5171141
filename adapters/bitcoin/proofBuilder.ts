import { throwIfAborted } from '../../src/abort.js'
import { QantaraError } from '../../src/errors.js'
import type { BtcPayoutProof } from '../../src/btcRail.js'
import type { BitcoinNetworkParams } from './header.js'
import type { BitcoinChainSource } from './source.js'
import { verifySpvProof } from './spvProof.js'
import { withoutWitness } from './tx.js'

/**
 * Builds the SPV proof of `txid` from a node or an Esplora server: the
 * witness-stripped transaction, its branch, the coinbase with its branch, and
 * `headers` headers from its block up. Refuses when the source's chain no
 * longer holds the block or is not yet deep enough, and verifies the proof
 * before handing it out, so a wrong answer from the source is an error here,
 * not a reverted transaction. Each source call is bounded by its client's
 * timeout; `signal` is checked between them.
 */
export async function buildSpvProof(
  source: BitcoinChainSource,
  params: BitcoinNetworkParams,
  txid: string,
  blockHash: string,
  headers: number,
  signal?: AbortSignal,
): Promise<BtcPayoutProof & { height: number }> {
  const { tx, coinbase } = await source.inclusion(txid, blockHash)
  throwIfAborted(signal)
  const height = await source.getBlockHeight(blockHash)
  const chain: Uint8Array[] = []
  for (let h = height; h < height + headers; h++) {
    throwIfAborted(signal)
    const hash = await source.getBlockHash(h).catch((err: unknown) => {
      throw new QantaraError(
        'RPC_BAD_RESPONSE',
        `the chain is not ${headers} blocks deep over ${blockHash} yet`,
        { cause: err, retryable: true },
      )
    })
    if (h === height && hash !== blockHash)
      throw new QantaraError('REORG_BEYOND_FINALITY', `block ${blockHash} is no longer at height ${h}`, {
        retryable: true,
      })
    chain.push(Uint8Array.from(Buffer.from(await source.getBlockHeaderHex(hash), 'hex')))
  }
  const proof = {
    tx: withoutWitness(tx.tx),
    txIndex: tx.index,
    merkle: tx.merkle,
    headers: chain,
    coinbase: withoutWitness(coinbase.tx),
    coinbaseMerkle: coinbase.merkle,
  }
  const checked = verifySpvProof(proof, { params, minConfirmations: headers, requireCoinbase: true })
  if (!checked.valid)
    throw new QantaraError(
      'RPC_BAD_RESPONSE',
      `the proof of ${txid} built from the source does not verify: ${checked.reason}`,
      { retryable: true },
    )
  if (checked.txid !== txid || checked.blockHash !== blockHash)
    throw new QantaraError(
      'RPC_BAD_RESPONSE',
      `the source proved ${checked.txid} in ${checked.blockHash}, not ${txid} in ${blockHash}`,
      { retryable: true },
    )
  return { ...proof, height }
}
