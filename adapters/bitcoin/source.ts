import { Block, type Transaction } from 'bitcoinjs-lib'
import { QantaraError } from '../../src/errors.js'
import { merkleBranch } from './merkle.js'

export interface BlockTxs {
  hash: string
  /** Display order, as nodes print it. */
  previousblockhash: string
  /** Parsed transactions, witness included, in block order. */
  txs: Transaction[]
}

/** A transaction as its block holds it: raw bytes (witness allowed), position, and branch (internal order, leaf level first). */
export interface TxInclusion {
  tx: Uint8Array
  index: number
  merkle: Uint8Array[]
}

/**
 * What the payout watcher, the proof builder and the relay feeder read from
 * Bitcoin. A node's JSON-RPC and an Esplora server both answer it; neither is
 * trusted beyond what can be checked (bytes hash to what was asked for, and
 * every proof is verified before it is posted).
 */
export interface BitcoinChainSource {
  getBlockCount(): Promise<number>
  getBlockHash(height: number): Promise<string>
  /** The 80-byte header, hex. */
  getBlockHeaderHex(hash: string): Promise<string>
  getBlockHeight(hash: string): Promise<number>
  getBlockTxs(hash: string): Promise<BlockTxs>
  /** `txid` and its block's coinbase, each with its branch in block `blockHash`. */
  inclusion(txid: string, blockHash: string): Promise<{ tx: TxInclusion; coinbase: TxInclusion }>
}

/** A raw block, refused unless its bytes hash to the block that was asked for. */
export function blockFromBytes(hash: string, raw: Uint8Array): BlockTxs {
  let block: Block
  try {
    block = Block.fromBuffer(Buffer.from(raw))
  } catch (cause) {
    throw new QantaraError('RPC_BAD_RESPONSE', `block ${hash} does not parse`, { cause, retryable: true })
  }
  if (block.getId() !== hash || !block.transactions?.length)
    throw new QantaraError('RPC_BAD_RESPONSE', `the source answered block ${hash} with other bytes`, {
      retryable: true,
    })
  return {
    hash,
    previousblockhash: Buffer.from(block.prevHash!).reverse().toString('hex'),
    txs: block.transactions,
  }
}

/** Inclusion of `txid` computed from its whole block: for sources that serve blocks but no branches. */
export function inclusionFromBlock(
  block: BlockTxs,
  txid: string,
): { tx: TxInclusion; coinbase: TxInclusion } {
  const ids = block.txs.map((t) => Uint8Array.from(t.getHash(false)))
  const index = block.txs.findIndex((t) => t.getId() === txid)
  if (index < 0)
    throw new QantaraError('RPC_BAD_RESPONSE', `block ${block.hash} does not hold ${txid}`, {
      retryable: true,
    })
  const at = (i: number): TxInclusion => ({
    tx: Uint8Array.from(block.txs[i]!.toBuffer()),
    index: i,
    merkle: merkleBranch(ids, i),
  })
  return { tx: at(index), coinbase: at(0) }
}
