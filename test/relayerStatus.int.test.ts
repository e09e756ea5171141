import { createServer } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { relayerView } from '../src/app/relayerStatus.js'
import { generateEd25519 } from '../src/ed25519.js'
import { createMetrics } from '../src/metrics.js'
import { probePeer } from '../src/peer/reachability.js'
import { SqliteStore } from '../src/store/sqlite.js'
import { listen } from './support/inProcessRelayer.js'

/** A peer that answers the probe with an envelope canonical JSON cannot write: a float body. */
const hostile = createServer((_req, res) =>
  res
    .writeHead(200, { 'content-type': 'application/json' })
    .end(`{"relayerId":"b","signedAt":${Date.now()},"body":1.5,"signature":"0x${'00'.repeat(64)}"}`),
)
let hostileUrl = ''
beforeAll(async () => {
  hostileUrl = await listen(hostile)
})
afterAll(() => new Promise((ok) => hostile.close(ok)))

const identity = generateEd25519().signer.publicKey

describe("the relayer's status: peers it asks are untrusted", () => {
  it('counts a peer answering an unwritable envelope as unreachable, and neither the probe nor the status read throws', async () => {
    expect(await probePeer({ id: 'b', url: hostileUrl, identity })).toMatchObject({
      reachable: false,
      kind: 'unsealed',
    })
    const store = new SqliteStore(':memory:')
    const view = relayerView({
      relayerId: 'a',
      identity,
      version: 'test',
      threshold: 2,
      members: [
        { id: 'a', identity },
        { id: 'b', url: hostileUrl, identity },
        { id: 'c', url: 'http://ops:Sup3rSecret@127.0.0.1:1', identity },
      ],
      explorers: {},
      relayer: {
        health: () => Promise.resolve({ ready: true, running: true, chains: {}, store: true }),
        live: () => true,
        slotStatus: () => Promise.resolve(undefined),
      },
      store,
      chains: [],
      metrics: createMetrics(),
    })
    const status = await view.status()
    expect(status.peers.map((p) => [p.id, p.reachable])).toEqual([
      ['b', false],
      ['c', false],
    ])
    // A peer URL's credentials appear nowhere on the public page: not in its URL, not in fetch's error about it.
    expect(JSON.stringify(status)).not.toContain('Sup3rSecret')
    await store.close()
  })
})
