import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** What a faulty JSON-RPC endpoint does to a request instead of answering it honestly. */
export type RpcFault =
  /** Never answers: the caller's timeout must end the call. */
  | 'hang'
  /** 503 with an HTML body, as a load balancer in trouble answers. */
  | 'http-5xx'
  /** 200 with a body that is not JSON. */
  | 'garbage'
  /** The upstream answer cut in half. */
  | 'truncated'
  /** `eth_blockNumber` some blocks behind the head. */
  | 'lagging-head'
  /** `eth_blockNumber` below the last head this endpoint reported. */
  | 'backwards-head'
  /** `eth_chainId` of another chain. */
  | 'wrong-chain'

export interface RpcProxyOptions {
  /** Each fault's chance per request, 0-1; what is left is answered honestly. */
  faults: Partial<Record<RpcFault, number>>
  /** How far behind a lagging head is. */
  lagBlocks?: number
  /** Faults injected at the first request each can apply to, whatever the draw: a short soak meets every kind. */
  guaranteed?: readonly RpcFault[]
}

export interface RpcProxy {
  url: string
  /** Requests seen, and faults injected by kind. */
  stats: { requests: number } & Partial<Record<RpcFault, number>>
  close(): Promise<void>
}

interface RpcRequest {
  method?: string
  id?: unknown
}

/**
 * A JSON-RPC proxy in front of a real node (anvil) that misbehaves as
 * third-party RPCs do in production: hangs, 5xx, garbage, truncated bodies,
 * a head that lags or goes backwards, another chain's id. Each request draws
 * at most one fault, by the configured chances.
 */
export async function startRpcProxy(target: string, o: RpcProxyOptions): Promise<RpcProxy> {
  const stats: RpcProxy['stats'] = { requests: 0 }
  let lastHead = 0n
  const hanging = new Set<ServerResponse>()
  const draw = (): RpcFault | undefined => {
    let roll = Math.random()
    for (const [fault, chance] of Object.entries(o.faults) as [RpcFault, number][]) {
      if (roll < chance) return fault
      roll -= chance
    }
    return undefined
  }
  const forward = async (body: string): Promise<string> => {
    const res = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    return res.text()
  }
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const body = Buffer.concat(chunks).toString()
    stats.requests++
    let parsed: RpcRequest | RpcRequest[] | undefined
    try {
      parsed = JSON.parse(body) as RpcRequest | RpcRequest[]
    } catch {
      parsed = undefined
    }
    const single = parsed && !Array.isArray(parsed) ? parsed : undefined
    // Faults about one method apply to that method only; elsewhere the request is answered honestly.
    const applies = (f: RpcFault) =>
      f === 'lagging-head' || f === 'backwards-head'
        ? single?.method === 'eth_blockNumber'
        : f !== 'wrong-chain' || single?.method === 'eth_chainId'
    const owed = o.guaranteed?.find((f) => stats[f] === undefined && applies(f))
    let fault = owed ?? draw()
    if (fault && !applies(fault)) fault = undefined
    if (fault) stats[fault] = (stats[fault] ?? 0) + 1
    const json = (result: unknown) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: single?.id, result }))
    switch (fault) {
      case 'hang':
        hanging.add(res)
        res.once('close', () => hanging.delete(res))
        return
      case 'http-5xx':
        res.writeHead(503, { 'content-type': 'text/html' }).end('<html>503 Service Unavailable</html>')
        return
      case 'garbage':
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"jsonrpc":"2.0","id":1,"result":0x}}')
        return
      case 'wrong-chain':
        json('0x1')
        return
      default:
    }
    const upstream = await forward(body)
    if (single?.method === 'eth_blockNumber') {
      const head = BigInt((JSON.parse(upstream) as { result: string }).result)
      if (fault === 'lagging-head')
        return json(
          `0x${(head > BigInt(o.lagBlocks ?? 5) ? head - BigInt(o.lagBlocks ?? 5) : 0n).toString(16)}`,
        )
      if (fault === 'backwards-head' && lastHead > 3n) return json(`0x${(lastHead - 3n).toString(16)}`)
      if (head > lastHead) lastHead = head
    }
    if (fault === 'truncated') {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(upstream.slice(0, Math.floor(upstream.length / 2)))
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(upstream)
  }
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(502).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () =>
      new Promise((done) => {
        for (const res of hanging) res.destroy()
        server.closeAllConnections()
        server.close(() => done())
      }),
  }
}
