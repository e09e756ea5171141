import { createServer, type Server } from 'node:http'
import { createHash } from 'node:crypto'
import { Block } from 'bitcoinjs-lib'
import type { BitcoinRpc } from '../../adapters/bitcoin/rpc.js'

/** What the facade can be told to get wrong, as a broken or hostile Esplora server would. */
export interface EsploraLies {
  /** Flip a byte of the first sibling of every merkle-proof. */
  branch?: boolean
  /** Answer /block/:hash/raw with another block's bytes. */
  otherBlock?: boolean
  /** Answer /block/:hash/raw with this many bytes of zeros. */
  hugeBlock?: number
}

export interface EsploraFacade {
  url: string
  lies: EsploraLies
  stop(): Promise<void>
}

const dsha = (b: Buffer) => createHash('sha256').update(createHash('sha256').update(b).digest()).digest()

/**
 * A test-only Esplora REST server answering from btcd: no Esplora (electrs)
 * binary can run here. It serves exactly the endpoints the client reads, in
 * Esplora's shapes: hashes in display order, and /tx/:txid/merkle-proof in
 * Electrum's get_merkle form (display-order siblings). Its branch is computed
 * here on its own, not with the project's merkle code.
 */
export async function startEsploraOverBtcd(rpc: BitcoinRpc): Promise<EsploraFacade> {
  const lies: EsploraLies = {}
  const rawBlock = async (hash: string) => Buffer.from(await rpc.call<string>('getblock', [hash, 0]), 'hex')
  async function answer(path: string): Promise<{ status: number; body: string | Buffer }> {
    let m: RegExpMatchArray | null
    if (path === '/blocks/tip/height') return { status: 200, body: String(await rpc.getBlockCount()) }
    if ((m = path.match(/^\/block-height\/(\d+)$/))) {
      if (Number(m[1]) > (await rpc.getBlockCount())) return { status: 404, body: 'Block not found' }
      return { status: 200, body: await rpc.getBlockHash(Number(m[1])) }
    }
    if ((m = path.match(/^\/block\/([0-9a-f]{64})\/header$/)))
      return { status: 200, body: await rpc.getBlockHeaderHex(m[1]!) }
    if ((m = path.match(/^\/block\/([0-9a-f]{64})$/)))
      return { status: 200, body: JSON.stringify({ id: m[1], height: await rpc.getBlockHeight(m[1]!) }) }
    if ((m = path.match(/^\/block\/([0-9a-f]{64})\/raw$/))) {
      if (lies.hugeBlock) return { status: 200, body: Buffer.alloc(lies.hugeBlock) }
      return { status: 200, body: await rawBlock(lies.otherBlock ? await rpc.getBlockHash(1) : m[1]!) }
    }
    if ((m = path.match(/^\/block\/([0-9a-f]{64})\/txid\/(\d+)$/)))
      return {
        status: 200,
        body: Block.fromBuffer(await rawBlock(m[1]!)).transactions![Number(m[2])]!.getId(),
      }
    if ((m = path.match(/^\/tx\/([0-9a-f]{64})\/hex$/)))
      return { status: 200, body: (await rpc.getTransaction(m[1]!)).hex }
    if ((m = path.match(/^\/tx\/([0-9a-f]{64})\/merkle-proof$/))) {
      const { blockhash } = await rpc.getTransaction(m[1]!)
      if (!blockhash) return { status: 400, body: 'Transaction not confirmed' }
      const ids: Buffer[] = Block.fromBuffer(await rawBlock(blockhash)).transactions!.map((t) =>
        Buffer.from(t.getHash(false)),
      )
      let pos = ids.findIndex((id) => Buffer.from(id).reverse().toString('hex') === m![1])
      const start = pos
      const siblings: string[] = []
      for (let level: Buffer[] = ids; level.length > 1; pos = Math.floor(pos / 2)) {
        const pair = pos % 2 === 0 ? (level[pos + 1] ?? level[pos]!) : level[pos - 1]!
        siblings.push(Buffer.from(pair).reverse().toString('hex'))
        const next: Buffer[] = []
        for (let i = 0; i < level.length; i += 2)
          next.push(dsha(Buffer.concat([level[i]!, level[i + 1] ?? level[i]!])))
        level = next
      }
      if (lies.branch && siblings[0])
        siblings[0] = (siblings[0][0] === 'f' ? '0' : 'f') + siblings[0].slice(1)
      return {
        status: 200,
        body: JSON.stringify({
          block_height: await rpc.getBlockHeight(blockhash),
          merkle: siblings,
          pos: start,
        }),
      }
    }
    return { status: 404, body: 'not found' }
  }
  const server: Server = createServer((req, res) => {
    answer(req.url ?? '/').then(
      ({ status, body }) =>
        res
          .writeHead(status, {
            'content-type': typeof body === 'string' ? 'text/plain' : 'application/octet-stream',
          })
          .end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    )
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}`, lies, stop: () => new Promise((ok) => server.close(() => ok())) }
}
