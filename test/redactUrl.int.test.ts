import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { RpcPool } from '../adapters/evm/rpcPool.js'
import { viemChain } from '../adapters/evm/chain.js'
import { freePort } from '../devkit/freePort.js'
import { redactUrl, redactUrls } from '../src/http/redactUrl.js'
import { errorMessage } from '../src/errors.js'
import { createLogger, serializeError } from '../src/log.js'

describe('RPC URLs in logs', () => {
  it("drops the API key wherever a provider's URL carries it, and keeps what tells endpoints apart", () => {
    expect(redactUrl('https://eth-mainnet.g.alchemy.com/v2/Xk3r9QpL2mN8vB4tY7wZ1aC6dE5fG0hJ')).toBe(
      'https://eth-mainnet.g.alchemy.com/v2/…',
    )
    expect(redactUrl('https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef')).toBe(
      'https://mainnet.infura.io/v3/…',
    )
    expect(redactUrl('https://rpc.helius.xyz/?api-key=1234-5678')).toBe('https://rpc.helius.xyz?…')
    expect(redactUrl('https://alice:hunter2@node.example.org:8545/')).toBe('https://node.example.org:8545')
    expect(redactUrl('https://a1b2c3d4e5f6a7b8c9d0.solana-mainnet.quiknode.pro/')).toBe(
      'https://….solana-mainnet.quiknode.pro',
    )
    expect(redactUrl('http://127.0.0.1:8080/v1/heartbeat')).toBe('http://127.0.0.1:8080/v1/heartbeat')
    expect(redactUrl('not a url')).toBe('[unparseable url]')
  })

  it('masks a URL inside prose and punctuation, a JWT or base64 key, and an error logged as a string', () => {
    const key = 'Xk3r9QpL2mN8vB4tY7wZ1aC6dE5fG0hJ'
    expect(redactUrls(`failed (https://eth-mainnet.g.alchemy.com/v2/${key}).`)).toBe(
      'failed (https://eth-mainnet.g.alchemy.com/v2/…).',
    )
    expect(redactUrls(`\`https://rpc.example.org/${key}\`, then https://b.example.org/v2/${key},`)).toBe(
      '`https://rpc.example.org/…`, then https://b.example.org/v2/…,',
    )
    expect(redactUrl('https://rpc.example.org/eyJhbGciOi.eyJzdWIiOiIx.sig-Part_1')).toBe(
      'https://rpc.example.org/…',
    )
    expect(redactUrl('https://rpc.example.org/v1/dGhpcyBpcyBhIGtleQ==')).toBe('https://rpc.example.org/v1/…')
    expect(serializeError(`connect to https://node.example.org/${key} refused`)).toBe(
      'connect to https://node.example.org/… refused',
    )
  })

  it('a failing RPC endpoint with a key in its URL is logged and reported without it (real viem client, dead port)', async () => {
    const key = 'Xk3r9QpL2mN8vB4tY7wZ1aC6dE5fG0hJ'
    const url = `http://alice:hunter2@127.0.0.1:${await freePort()}/v2/${key}`
    const lines: string[] = []
    const logger = createLogger(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(chunk.toString())
          done()
        },
      }),
    )
    const pool = new RpcPool({ chain: viemChain('eip155:31337', [url]), urls: [url], timeoutMs: 500, logger })
    const err = await pool.run((c) => c.getBlockNumber(), 'head').catch((e: unknown) => e)
    logger.error({ err }, 'watch failed')
    await new Promise((r) => setImmediate(r))
    const logged = lines.join('')
    expect(logged).toContain('"rpc":"http://127.0.0.1:')
    expect(logged).toContain('RPC_UNAVAILABLE')
    for (const secret of [key, 'hunter2']) expect(logged).not.toContain(secret)
    // What was redacted was there to redact: viem names the URL it called.
    expect(errorMessage((err as Error).cause)).toContain(key)
  })
})
