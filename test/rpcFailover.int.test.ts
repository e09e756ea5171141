import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cometClient } from '../adapters/cosmos/rpc.js'
import { solanaRpc } from '../adapters/solana/rpc.js'
import { startLitesvmRpc, type LitesvmRpc } from '../devkit/chains/litesvmRpc.js'
import { startSimd, type Simd } from '../devkit/chains/simd.js'
import { isQantaraError } from '../src/errors.js'

// Fail-over on Solana and Cosmos as on EVM: a dead endpoint is passed over, one serving another chain is dropped for
// good, and each request is observed for the per-endpoint metrics. litesvm behind the dev kit's RPC server stands in
// for a Solana node (none runs here); simd is a real CometBFT node.
const DEAD = 'http://127.0.0.1:9'
let svm: LitesvmRpc
let simd: Simd
let mainnetLike: Server
let mainnetUrl: string

beforeAll(async () => {
  svm = await startLitesvmRpc()
  simd = await startSimd({ accounts: [] })
  // A node of another chain: it names Solana mainnet's genesis hash, and would answer anything else too.
  mainnetLike = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      const { id } = JSON.parse(body) as { id: number }
      const result = '5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d'
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id, result }))
    })
  })
  await new Promise<void>((ok) => mainnetLike.listen(0, '127.0.0.1', ok))
  mainnetUrl = `http://127.0.0.1:${(mainnetLike.address() as { port: number }).port}`
}, 120_000)
afterAll(async () => {
  await svm?.stop()
  await simd?.stop()
  mainnetLike?.close()
})

/** A JSON-RPC server answering each call with what `answer` returns for its method. */
async function scripted(answer: (method: string) => unknown): Promise<{ url: string; close: () => void }> {
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      const { id, method } = JSON.parse(body) as { id: number; method: string }
      const a = answer(method)
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(a === null ? null : { jsonrpc: '2.0', id, ...(a as object) }))
    })
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => server.close(),
  }
}

function observed() {
  const seen: string[] = []
  return { seen, observe: (endpoint: string, outcome: string) => void seen.push(`${endpoint} ${outcome}`) }
}

describe('RPC fail-over on Solana and Cosmos', () => {
  it('Solana: passes over a dead endpoint and one of another chain, then keeps asking the one that answered', async () => {
    const { seen, observe } = observed()
    const rpc = solanaRpc({
      urls: [DEAD, mainnetUrl, svm.url],
      timeoutMs: 2_000,
      chain: 'solana:litesvm',
      observe,
    })
    expect(await rpc.getGenesisHash().send()).toBe('litesvm')
    // The other chain's node is dropped at its check, before anything is asked of it.
    expect(seen).toEqual([`${DEAD} error`, `${svm.url} ok`])
    seen.length = 0
    await rpc.getSlot().send()
    expect(seen).toEqual([`${svm.url} ok`])
    // Only the other chain's node left: nothing is read from it.
    const wrong = solanaRpc({ urls: [mainnetUrl], timeoutMs: 2_000, chain: 'solana:litesvm' })
    const err = await wrong
      .getSlot()
      .send()
      .catch((e: unknown) => e)
    expect(isQantaraError(err, 'RPC_UNAVAILABLE') && err.details).toContain('not solana:litesvm')
  })

  it('Cosmos: passes over a dead node, and refuses a node of another chain', async () => {
    const { seen, observe } = observed()
    const client = await cometClient({
      urls: [DEAD, simd.rpcUrl],
      timeoutMs: 2_000,
      chain: 'cosmos:qantara-local',
      observe,
    })
    expect((await client.status()).nodeInfo.network).toBe('qantara-local')
    expect(seen[0]).toBe(`${DEAD} error`)
    expect(seen.at(-1)).toBe(`${simd.rpcUrl} ok`)
    const err = await cometClient({
      urls: [simd.rpcUrl],
      timeoutMs: 2_000,
      chain: 'cosmos:cosmoshub-4',
    }).catch((e: unknown) => e)
    expect(isQantaraError(err, 'RPC_UNAVAILABLE') && err.details).toBe(
      `${simd.rpcUrl}: serves cosmos:qantara-local, not cosmos:cosmoshub-4`,
    )
  })

  it('Solana: an answer that is no JSON-RPC object, or a node saying it is behind, moves on; a node is refused only for naming another chain', async () => {
    let behind = true
    const flaky = await scripted((method) =>
      behind
        ? { error: { code: -32005, message: 'Node is behind by 42 slots' } }
        : { result: method === 'getGenesisHash' ? 'litesvm' : 7 },
    )
    const nulls = await scripted(() => null)
    const { seen, observe } = observed()
    const rpc = solanaRpc({
      urls: [nulls.url, flaky.url, svm.url],
      timeoutMs: 2_000,
      chain: 'solana:litesvm',
      observe,
    })
    expect(await rpc.getGenesisHash().send()).toBe('litesvm')
    expect(seen).toEqual([`${nulls.url} error`, `${flaky.url} error`, `${svm.url} ok`])
    // The node that was behind is not refused: once it has caught up, and the others are gone, it answers.
    behind = false
    await svm.stop()
    nulls.close()
    expect(await rpc.getSlot().send()).toBe(7n)
    flaky.close()
    svm = await startLitesvmRpc()
  })

  it("Cosmos: a node's error about the request is its answer (no other node asked); a poll's client moves on only at its next call", async () => {
    const { seen, observe } = observed()
    const client = await cometClient({
      urls: [simd.rpcUrl, DEAD],
      timeoutMs: 2_000,
      chain: 'cosmos:qantara-local',
      observe,
    })
    seen.length = 0
    const err = await client.tx({ hash: new Uint8Array(32) }).catch((e: unknown) => e)
    expect(isQantaraError(err, 'RPC_BAD_RESPONSE') && err.retryable).toBe(true)
    expect(seen).toEqual([`${simd.rpcUrl} ok`])

    const onePerCall = await cometClient({
      urls: [DEAD, simd.rpcUrl],
      timeoutMs: 2_000,
      onePerCall: true,
    }).catch((e: unknown) => e)
    // Its first call (the client reads the node's version) failed on the dead node alone; the next goes to simd.
    expect(isQantaraError(onePerCall, 'RPC_UNAVAILABLE')).toBe(true)
  })
})
