import axios, { AxiosError, type AxiosInstance, type ResponseType } from 'axios'
import { z } from 'zod'
import { QantaraError } from '../../src/errors.js'
import { fromDisplayHex, sha256d, toDisplayHex } from './header.js'
import { blockFromBytes, type BitcoinChainSource, type BlockTxs, type TxInclusion } from './source.js'

export interface EsploraOptions {
  /** Base URL of the API, e.g. https://blockstream.info/api */
  url: string
  timeoutMs: number
  /** A raw mainnet block is at most 4 MB. */
  maxResponseBytes?: number
}

const hash = z.string().regex(/^[0-9a-f]{64}$/)
const hexBytes = z.string().regex(/^([0-9a-f]{2})+$/)
const height = z.coerce.number().int().min(0).max(100_000_000)
// Electrum's get_merkle shape: siblings in display (big-endian) order, leaf level first.
const merkleProof = z.object({
  block_height: z.number().int().min(0),
  merkle: z.array(hash).max(32),
  pos: z.number().int().min(0),
})
const blockInfo = z.object({ id: hash, height: z.number().int().min(0) })

/** A hash put into a URL path: it must be one, whatever the caller passed. */
function id(h: string): string {
  if (!hash.safeParse(h).success)
    throw new QantaraError('RPC_BAD_RESPONSE', `${h} is not a block or transaction hash`)
  return h
}

/**
 * Esplora's REST API (Blockstream's and mempool.space's servers, or one's
 * own electrs), read-only: what the payout watcher and the proof builder
 * need. Every answer is shape-checked and bounded; headers and blocks are
 * refused unless they hash to what was asked for, and branches are checked
 * by the proof builder before anything is posted.
 */
export class EsploraClient implements BitcoinChainSource {
  private readonly http: AxiosInstance

  constructor(o: EsploraOptions) {
    this.http = axios.create({
      baseURL: o.url.replace(/\/+$/, ''),
      timeout: o.timeoutMs,
      maxContentLength: o.maxResponseBytes ?? 8 * 1024 * 1024,
      maxRedirects: 0,
      validateStatus: () => true,
    })
  }

  private async get(path: string, responseType: ResponseType = 'text'): Promise<unknown> {
    let res
    try {
      res = await this.http.get(path, { responseType })
    } catch (cause) {
      // axios reports an answer over maxContentLength as a bad response: the server answered, wrongly.
      const code =
        cause instanceof AxiosError && cause.code === AxiosError.ERR_BAD_RESPONSE
          ? 'RPC_BAD_RESPONSE'
          : 'RPC_UNAVAILABLE'
      throw new QantaraError(code, `esplora ${path}: ${(cause as Error).message}`, { cause, retryable: true })
    }
    if (res.status === 404)
      throw new QantaraError('RPC_BAD_RESPONSE', `esplora ${path}: not found`, {
        details: '404',
        retryable: true,
      })
    if (res.status !== 200)
      throw new QantaraError('RPC_UNAVAILABLE', `esplora ${path}: HTTP ${res.status}`, { retryable: true })
    return res.data
  }

  private async read<T>(path: string, schema: z.ZodType<T>, json = false): Promise<T> {
    const body = await this.get(path)
    let value: unknown = typeof body === 'string' ? body.trim() : body
    if (json) {
      try {
        value = JSON.parse(value as string)
      } catch (cause) {
        throw new QantaraError('RPC_BAD_RESPONSE', `esplora ${path}: not JSON`, { cause, retryable: true })
      }
    }
    const parsed = schema.safeParse(value)
    if (!parsed.success)
      throw new QantaraError(
        'RPC_BAD_RESPONSE',
        `esplora ${path}: unexpected answer (${parsed.error.issues[0]?.message})`,
        { retryable: true },
      )
    return parsed.data
  }

  getBlockCount(): Promise<number> {
    return this.read('/blocks/tip/height', height)
  }

  getBlockHash(at: number): Promise<string> {
    return this.read(`/block-height/${at}`, hash)
  }

  async getBlockHeaderHex(blockHash: string): Promise<string> {
    const header = await this.read(`/block/${id(blockHash)}/header`, hexBytes.length(160))
    if (toDisplayHex(sha256d(Buffer.from(header, 'hex'))) !== blockHash)
      throw new QantaraError('RPC_BAD_RESPONSE', `esplora answered header ${blockHash} with another header`, {
        retryable: true,
      })
    return header
  }

  async getBlockHeight(blockHash: string): Promise<number> {
    const info = await this.read(`/block/${id(blockHash)}`, blockInfo, true)
    if (info.id !== blockHash)
      throw new QantaraError('RPC_BAD_RESPONSE', `esplora answered block ${blockHash} with ${info.id}`, {
        retryable: true,
      })
    return info.height
  }

  async getBlockTxs(blockHash: string): Promise<BlockTxs> {
    const raw = await this.get(`/block/${id(blockHash)}/raw`, 'arraybuffer')
    if (!(raw instanceof Uint8Array))
      throw new QantaraError('RPC_BAD_RESPONSE', `esplora block ${blockHash}: not bytes`, { retryable: true })
    return blockFromBytes(blockHash, raw)
  }

  async inclusion(txid: string, blockHash: string): Promise<{ tx: TxInclusion; coinbase: TxInclusion }> {
    const coinbaseTxid = await this.read(`/block/${id(blockHash)}/txid/0`, hash)
    const [tx, coinbase] = [await this.txInclusion(txid), await this.txInclusion(coinbaseTxid)]
    // The branches are for the block at that height now: it must be the block the payout was seen in.
    if (tx.height !== coinbase.height || (await this.getBlockHash(tx.height)) !== blockHash)
      throw new QantaraError('REORG_BEYOND_FINALITY', `${txid} is no longer in block ${blockHash}`, {
        retryable: true,
      })
    return { tx: tx.inclusion, coinbase: coinbase.inclusion }
  }

  /** The transaction, its branch (siblings turned from display order to internal order) and the height the branch is for. */
  private async txInclusion(txid: string): Promise<{ inclusion: TxInclusion; height: number }> {
    const proof = await this.read(`/tx/${id(txid)}/merkle-proof`, merkleProof, true)
    const tx = await this.read(`/tx/${txid}/hex`, hexBytes)
    return {
      inclusion: {
        tx: Uint8Array.from(Buffer.from(tx, 'hex')),
        index: proof.pos,
        merkle: proof.merkle.map(fromDisplayHex),
      },
      height: proof.block_height,
    }
  }
}
