import axios, { type AxiosInstance } from 'axios'
import { QantaraError, isQantaraError } from '../../src/errors.js'
import {
  blockFromBytes,
  inclusionFromBlock,
  type BitcoinChainSource,
  type BlockTxs,
  type TxInclusion,
} from './source.js'

export interface BitcoinRpcOptions {
  url: string
  user: string
  password: string
  timeoutMs: number
  /** A verbose block of a full mainnet block is a few MB; anything far beyond is not an answer. */
  maxResponseBytes?: number
}

/** Which node answers: their RPCs differ in ways that matter (see the methods). */
export type NodeKind = 'btcd' | 'core'

/**
 * JSON-RPC to Bitcoin Core or btcd. Where they differ: btcd mines with
 * `generate` (Core: `generatetoaddress`), puts verbose block transactions under
 * `rawtx` (Core: `tx`; blocks are read raw here, which sidesteps it), takes
 * getrawtransaction's verbose flag as an int, has
 * `estimatefee` instead of `estimatesmartfee`, and has no `getnetworkinfo`,
 * which is how the kind is told apart.
 */
export class BitcoinRpc implements BitcoinChainSource {
  private readonly http: AxiosInstance
  private id = 0
  private kindCache?: NodeKind

  constructor(private readonly o: BitcoinRpcOptions) {
    this.http = axios.create({
      baseURL: o.url,
      timeout: o.timeoutMs,
      auth: { username: o.user, password: o.password },
      maxContentLength: o.maxResponseBytes ?? 32 * 1024 * 1024,
      maxRedirects: 0,
      headers: { 'content-type': 'text/plain' },
      validateStatus: () => true,
    })
  }

  async call<T>(method: string, params: unknown[] = []): Promise<T> {
    let res
    try {
      res = await this.http.post('/', { jsonrpc: '1.0', id: ++this.id, method, params })
    } catch (cause) {
      throw new QantaraError('RPC_UNAVAILABLE', `bitcoin ${method}: ${(cause as Error).message}`, {
        cause,
        retryable: true,
      })
    }
    const body = res.data as { result?: T; error?: { code: number; message: string } | null } | undefined
    // -5: no such transaction, block or address (btcd and Core alike); a caller may expect that.
    if (body?.error?.code === -5)
      throw new QantaraError('RPC_NOT_FOUND', `bitcoin ${method}: ${body.error.message}`)
    if (body?.error)
      throw new QantaraError(
        'RPC_BAD_RESPONSE',
        `bitcoin ${method}: ${body.error.message} (${body.error.code})`,
        { retryable: false },
      )
    if (res.status !== 200 || !body || !('result' in body))
      throw new QantaraError('RPC_UNAVAILABLE', `bitcoin ${method}: HTTP ${res.status}`, { retryable: true })
    return body.result as T
  }

  async kind(): Promise<NodeKind> {
    if (!this.kindCache)
      this.kindCache = await this.call('getnetworkinfo').then(
        () => 'core' as const,
        () => 'btcd' as const,
      )
    return this.kindCache
  }

  getBlockCount(): Promise<number> {
    return this.call('getblockcount')
  }

  getBlockHash(height: number): Promise<string> {
    return this.call('getblockhash', [height])
  }

  /** The 80-byte header, hex. */
  getBlockHeaderHex(hash: string): Promise<string> {
    return this.call('getblockheader', [hash, false])
  }

  /**
   * A block's transactions from its raw serialisation (verbosity 0: the same
   * on Core and btcd, and a few times smaller than the decoded forms). The
   * bytes must hash to the block asked for.
   */
  async getBlockTxs(hash: string): Promise<BlockTxs> {
    const hex = await this.call<string>('getblock', [hash, 0])
    if (typeof hex !== 'string' || !/^([0-9a-f]{2})+$/i.test(hex))
      throw new QantaraError('RPC_BAD_RESPONSE', `block ${hash} is not hex`, { retryable: true })
    return blockFromBytes(hash, Buffer.from(hex, 'hex'))
  }

  /** Computed from the whole block: a node serves no branches. */
  async inclusion(txid: string, blockHash: string): Promise<{ tx: TxInclusion; coinbase: TxInclusion }> {
    return inclusionFromBlock(await this.getBlockTxs(blockHash), txid)
  }

  async getBlockHeight(hash: string): Promise<number> {
    return (await this.call<{ height: number }>('getblockheader', [hash, true])).height
  }

  /** A transaction's raw hex and, once mined, its block. */
  async getTransaction(txid: string): Promise<{ hex: string; blockhash?: string; confirmations?: number }> {
    return this.call('getrawtransaction', [txid, (await this.kind()) === 'btcd' ? 1 : true])
  }

  sendRawTransaction(hex: string): Promise<string> {
    return this.call('sendrawtransaction', [hex])
  }

  /** Fee rate in sat/vB for confirmation within `blocks`, or undefined when the node has no estimate (regtest). */
  async feeRate(blocks: number): Promise<number | undefined> {
    const btcPerKb =
      (await this.kind()) === 'btcd'
        ? await this.call<number>('estimatefee', [blocks])
        : (await this.call<{ feerate?: number }>('estimatesmartfee', [blocks])).feerate
    return btcPerKb !== undefined && btcPerKb > 0 ? Math.ceil((btcPerKb * 1e8) / 1000) : undefined
  }

  /** Mines `count` blocks (regtest): to btcd's --miningaddr, or to `address` on Core. */
  async mine(count: number, address?: string): Promise<string[]> {
    if ((await this.kind()) === 'btcd') return this.call('generate', [count])
    return this.call('generatetoaddress', [count, address])
  }

  /**
   * Unspent outputs paying `address`, mempool included. btcd answers from its
   * address index (`--addrindex`), Core from a UTXO-set scan.
   */
  async listUnspent(address: string): Promise<{ txid: string; vout: number; value: bigint }[]> {
    const sats = (btc: number) => BigInt(Math.round(btc * 1e8))
    if ((await this.kind()) === 'core') {
      const scan = await this.call<{ unspents: { txid: string; vout: number; amount: number }[] }>(
        'scantxoutset',
        ['start', [`addr(${address})`]],
      )
      return scan.unspents.map((u) => ({ txid: u.txid, vout: u.vout, value: sats(u.amount) }))
    }
    const txs = await this.call<
      | {
          txid: string
          vout: { n: number; value: number; scriptPubKey: { address?: string; addresses?: string[] } }[]
        }[]
      | null
    >('searchrawtransactions', [address, 1, 0, 10_000, 0, false]).catch((err: unknown) => {
      // btcd answers "No information available about address" until the address has a transaction.
      if (isQantaraError(err, 'RPC_NOT_FOUND')) return null
      throw err
    })
    const out: { txid: string; vout: number; value: bigint }[] = []
    for (const tx of txs ?? []) {
      for (const o of tx.vout) {
        const paysUs = o.scriptPubKey.address === address || o.scriptPubKey.addresses?.includes(address)
        if (!paysUs) continue
        const unspent = await this.call<{ coinbase: boolean; confirmations: number } | null>('gettxout', [
          tx.txid,
          o.n,
          true,
        ])
        // A coinbase cannot be spent before 100 confirmations.
        if (unspent && (!unspent.coinbase || unspent.confirmations >= 100))
          out.push({ txid: tx.txid, vout: o.n, value: sats(o.value) })
      }
    }
    return out
  }

  invalidateBlock(hash: string): Promise<void> {
    return this.call('invalidateblock', [hash])
  }
}
