import { Transaction } from 'bitcoinjs-lib'
import { verifyHeaderChain, type ChainProblem } from './headerChain.js'
import { toDisplayHex, type BitcoinNetworkParams } from './header.js'
import { verifyMerkleBranch, type MerkleProblem } from './merkle.js'

/** What proves a transaction is in the chain: the transaction, its branch, the headers on top, and the coinbase's branch. */
export interface SpvProof {
  /** The transaction, witness allowed: the txid is taken from its witness-stripped form. */
  tx: Uint8Array
  txIndex: number
  /** Siblings, internal byte order, leaf level first. */
  merkle: Uint8Array[]
  /** 80-byte headers, ascending; the first holds the transaction. */
  headers: Uint8Array[]
  coinbase?: Uint8Array
  coinbaseMerkle?: Uint8Array[]
}

export type SpvProblem =
  | ChainProblem
  | MerkleProblem
  | 'BAD_TX'
  | 'TX_64_BYTES'
  | 'COINBASE_PROOF_REQUIRED'
  | 'BAD_COINBASE'
  | 'COINBASE_DEPTH_MISMATCH'
  | 'NOT_ENOUGH_CONFIRMATIONS'

export type SpvResult =
  | { valid: true; tx: Transaction; txid: string; blockHash: string; confirmations: number; work: bigint }
  | { valid: false; reason: SpvProblem }

export interface SpvOptions {
  params: BitcoinNetworkParams
  /** nBits the block holding the transaction must carry. */
  expectedBits?: number
  minConfirmations?: number
  /** Off only for auditing proofs that never carried a coinbase; payouts are always proved with one. */
  requireCoinbase?: boolean
}

function parseTx(raw: Uint8Array): Transaction | undefined {
  try {
    return Transaction.fromBuffer(raw)
  } catch {
    return undefined
  }
}

/**
 * Verifies an SPV proof. Beyond the branch and the headers' work it closes the
 * known holes: a 64-byte "transaction" that is really an inner node (refused
 * outright, and the coinbase branch fixes the tree depth so no shorter branch
 * can pass), duplicated leaves (see verifyMerkleBranch), and a txid taken from
 * the witness serialisation.
 */
export function verifySpvProof(p: SpvProof, o: SpvOptions): SpvResult {
  const tx = parseTx(p.tx)
  if (!tx) return { valid: false, reason: 'BAD_TX' }
  if (tx.byteLength(false) === 64) return { valid: false, reason: 'TX_64_BYTES' }
  if ((p.txIndex === 0) !== tx.isCoinbase()) return { valid: false, reason: 'BAD_MERKLE_INDEX' }
  const chain = verifyHeaderChain(p.headers, {
    params: o.params,
    ...(o.expectedBits !== undefined ? { expectedBits: o.expectedBits } : {}),
  })
  if (!chain.valid) return { valid: false, reason: chain.reason }
  const root = chain.headers[0]!.merkleRoot
  const txid = tx.getHash(false)
  const branch = verifyMerkleBranch(txid, p.merkle, p.txIndex, root)
  if (branch) return { valid: false, reason: branch }
  if (p.coinbase || p.coinbaseMerkle) {
    const coinbase = p.coinbase ? parseTx(p.coinbase) : undefined
    if (!coinbase?.isCoinbase() || !p.coinbaseMerkle) return { valid: false, reason: 'BAD_COINBASE' }
    if (p.coinbaseMerkle.length !== p.merkle.length)
      return { valid: false, reason: 'COINBASE_DEPTH_MISMATCH' }
    if (verifyMerkleBranch(coinbase.getHash(false), p.coinbaseMerkle, 0, root))
      return { valid: false, reason: 'BAD_COINBASE' }
  } else if (o.requireCoinbase) {
    return { valid: false, reason: 'COINBASE_PROOF_REQUIRED' }
  }
  if (chain.headers.length < (o.minConfirmations ?? 1))
    return { valid: false, reason: 'NOT_ENOUGH_CONFIRMATIONS' }
  return {
    valid: true,
    tx,
    txid: toDisplayHex(txid),
    blockHash: toDisplayHex(chain.headers[0]!.hash),
    confirmations: chain.headers.length,
    work: chain.work,
  }
}
