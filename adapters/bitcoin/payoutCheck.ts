import { Transaction } from 'bitcoinjs-lib'
import type { CheckedBtcPayout } from '../../src/btcRail.js'
import type { Hex32 } from '../../src/order.js'
import type { BitcoinNetworkParams } from './header.js'
import { buildSpvProof } from './proofBuilder.js'
import type { BitcoinChainSource } from './source.js'

/** `OP_RETURN OP_PUSHBYTES_32 <32 bytes>`: the tag a payout carries; a segwit commitment (36 bytes) is not one. */
const TAG_SCRIPT_BYTES = 34

/**
 * What a relayer's own Bitcoin source proves of `txid` in `blockHash`: the SPV
 * proof built from that source and verified here (the block on its best
 * chain, `confirmations` deep; retryable errors until it is), then the
 * transaction's outputs, every 32-byte tag among them, and the block's time.
 * A quorum member that co-signs a vault's release against a payout decides
 * from this alone, never from what a peer or the submitter says of it.
 */
export async function checkPayout(
  source: BitcoinChainSource,
  params: BitcoinNetworkParams,
  txid: string,
  blockHash: string,
  confirmations: number,
  signal?: AbortSignal,
): Promise<CheckedBtcPayout> {
  const proof = await buildSpvProof(source, params, txid, blockHash, confirmations, signal)
  const tx = Transaction.fromBuffer(Buffer.from(proof.tx))
  const tags: Hex32[] = []
  const outputs = tx.outs.map((o) => {
    const script = Buffer.from(o.script)
    if (script.length === TAG_SCRIPT_BYTES && script[0] === 0x6a && script[1] === 0x20)
      tags.push(`0x${script.subarray(2).toString('hex')}`)
    return { script: script.toString('hex'), sats: BigInt(o.value) }
  })
  const header = Buffer.from(proof.headers[0]!)
  return { txid, blockHash, height: proof.height, blockTime: BigInt(header.readUInt32LE(68)), tags, outputs }
}
