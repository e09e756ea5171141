import { QantaraError } from '../../src/errors.js'
import { toDisplayHex } from './header.js'
import { merkleBranch } from './merkle.js'
import type { BitcoinRpc } from './rpc.js'
import type { BtcPayoutProof } from '../../src/chains.js'
import { withoutWitness } from './tx.js'

/**
 * Builds the SPV proof of `txid` from a node: the witness-stripped transaction,
 * its branch, the coinbase with its branch, and `headers` headers from its
 * block up. Refuses when the node's chain no longer holds the block, or is not
 * yet deep enough.
 */
export async function buildSpvProof(rpc: BitcoinRpc, txid: string, blockHash: string, headers: number): Promise<BtcPayoutProof & { height: number }> {
  const { txs } = await rpc.getBlockTxs(blockHash)
  const height = await rpc.getBlockHeight(blockHash)
  const ids = txs.map((t) => Uint8Array.from(t.getHash(false)))
  const index = ids.findIndex((id) => toDisplayHex(id) === txid)
  if (index < 0) throw new QantaraError('RPC_BAD_RESPONSE', `block ${blockHash} does not hold ${txid}`)
  const chain: Uint8Array[] = []
  for (let h = height; h < height + headers; h++) {
    const hash = await rpc.getBlockHash(h).catch((err: unknown) => {
      throw new QantaraError('RPC_BAD_RESPONSE', `the chain is not ${headers} blocks deep over ${blockHash} yet`, { cause: err, retryable: true })
    })
    if (h === height && hash !== blockHash) throw new QantaraError('REORG_BEYOND_FINALITY', `block ${blockHash} is no longer at height ${h}`, { retryable: true })
    chain.push(Uint8Array.from(Buffer.from(await rpc.getBlockHeaderHex(hash), 'hex')))
  }
  return {
    tx: withoutWitness(Uint8Array.from(txs[index]!.toBuffer())),
    txIndex: index,
    merkle: merkleBranch(ids, index),
    headers: chain,
    coinbase: withoutWitness(Uint8Array.from(txs[0]!.toBuffer())),
    coinbaseMerkle: merkleBranch(ids, 0),
    height,
  }
}
