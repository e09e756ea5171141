import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * Faulty JSON-RPC endpoints on loopback, standing in for the misbehaving
 * third-party RPCs a relayer meets in production.
 */
export interface FaultyRpc {
  url: string
  stats: { requests: number; refused: number }
  close(): Promise<void>
}

function listen(server: Server, stats: FaultyRpc['stats']): Promise<FaultyRpc> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}`,
        stats,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections()
            server.close(() => done())
          }),
      })
    })
  })
}

/** Answers every request with a 200 and an HTML page, like a misconfigured gateway. */
export function startGarbageRpc(): Promise<FaultyRpc> {
  const state = { requests: 0, refused: 0 }
  const server = createServer((_req, res) => {
    state.requests++
    res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>502 Bad Gateway</body></html>')
  })
  return listen(server, state)
}

/** A URL nothing listens on. */
export async function deadRpcUrl(): Promise<string> {
  const rpc = await listen(createServer(), { requests: 0, refused: 0 })
  await rpc.close()
  return rpc.url
}

/** Forwards to `target`, but refuses eth_getLogs over more than `maxRange` blocks the way hosted RPCs do. */
export function startRangeLimitedProxy(target: string, maxRange: number): Promise<FaultyRpc> {
  const state = { requests: 0, refused: 0 }
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => (body += d.toString()))
    req.on('end', () => {
      state.requests++
      const call = JSON.parse(body) as {
        id: number
        method: string
        params: { fromBlock: string; toBlock: string }[]
      }
      if (call.method === 'eth_getLogs') {
        const { fromBlock, toBlock } = call.params[0]!
        if (Number(BigInt(toBlock) - BigInt(fromBlock)) + 1 > maxRange) {
          state.refused++
          res.writeHead(200, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              jsonrpc: '2.0',
              id: call.id,
              error: { code: -32602, message: `query exceeds max block range ${maxRange}` },
            }),
          )
          return
        }
      }
      fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
        .then(async (r) =>
          res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text()),
        )
        .catch(() => res.writeHead(502).end())
    })
  })
  return listen(server, state)
}

/**
 * A node `behind` blocks behind `target`: it says its head is that much lower,
 * answers eth_getLogs only up to that head (as a lagging node does, silently),
 * and knows no block past it. With `failLogs`, an up-to-date node instead,
 * whose eth_getLogs fails with a 500.
 */
export function startLaggingProxy(
  target: string,
  o: { behind?: number; failLogs?: boolean },
): Promise<FaultyRpc> {
  const state = { requests: 0, refused: 0 }
  const forward = (body: string) =>
    fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(
      async (r) => (await r.json()) as { result?: unknown },
    )
  const behind = BigInt(o.behind ?? 0)
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => (body += d.toString()))
    req.on('end', () => {
      state.requests++
      const call = JSON.parse(body) as { id: number; method: string; params: unknown[] }
      const answer = (result: unknown) =>
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ jsonrpc: '2.0', id: call.id, result }))
      void (async () => {
        const head =
          BigInt(
            (await forward(JSON.stringify({ ...call, method: 'eth_blockNumber', params: [] })))
              .result as string,
          ) - behind
        if (call.method === 'eth_getLogs' && o.failLogs) {
          state.refused++
          return void res.writeHead(500).end()
        }
        if (call.method === 'eth_blockNumber') return answer(`0x${head.toString(16)}`)
        if (call.method === 'eth_getLogs') {
          const filter = call.params[0] as { fromBlock: string; toBlock: string }
          if (BigInt(filter.fromBlock) > head) return answer([])
          const toBlock = BigInt(filter.toBlock) > head ? `0x${head.toString(16)}` : filter.toBlock
          return answer((await forward(JSON.stringify({ ...call, params: [{ ...filter, toBlock }] }))).result)
        }
        if (call.method === 'eth_getBlockByNumber' && BigInt(call.params[0] as string) > head)
          return answer(null)
        answer((await forward(body)).result)
      })().catch(() => res.writeHead(502).end())
    })
  })
  return listen(server, state)
}
