import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { generateEd25519 } from '../src/ed25519.js'
import { openEnvelope } from '../src/peer/envelope.js'
import { peerRoutes } from '../src/peer/routes.js'
import { SqliteStore } from '../src/store/sqlite.js'

describe('peer routes', () => {
  it('serve sealed pages, refuse malformed queries, and throttle a flood without falling over', async () => {
    const identity = generateEd25519().signer
    const store = new SqliteStore(':memory:')
    const handle = peerRoutes({ relayerId: 'relayer-1', identity, store })
    const server = createServer((req, res) => void handle(req, res, new URL(req.url ?? '/', 'http://x')))
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const order = `0x${'d4'.repeat(32)}`
    try {
      const page = await (await fetch(`${url}/v1/peer/heartbeats?order=${order}&since=0`)).json()
      expect(openEnvelope('heartbeats', page, 'relayer-1', new Map([['relayer-1', identity.publicKey]]), 60_000)).toEqual({ orderId: order, heartbeats: [], next: null })
      expect((await fetch(`${url}/v1/peer/heartbeats?order=nope`)).status).toBe(400)
      expect((await fetch(`${url}/v1/peer/signatures/${order}`)).status).toBe(404)

      const statuses = await Promise.all(Array.from({ length: 400 }, () => fetch(`${url}/v1/peer/heartbeats?order=${order}&since=0`).then((r) => r.status)))
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(100)
      expect(statuses.every((s) => s === 200 || s === 429)).toBe(true)
      await new Promise((r) => setTimeout(r, 200))
      expect((await fetch(`${url}/v1/peer/heartbeats?order=${order}&since=0`)).status).toBe(200)
    } finally {
      server.close()
      await store.close()
    }
  })
})
