import type { ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { startAnvil, type Anvil } from '../devkit/chains/anvil.js'
import { startRpcProxy, type RpcFault, type RpcProxy } from '../devkit/faults/rpcProxy.js'
import { LOCAL_CHAIN, launchQantara, setUpLocalMarket, type LocalMarket } from '../devkit/localMarket.js'
import { waitFor } from '../devkit/waitFor.js'
import { tempDir } from './support/tmp.js'

// A real relayer process (`qantara relay`) on anvil, reading it through the dev kit's faulty RPC proxy: what a
// supervisor and Prometheus see of it while it cannot read its chain, and once it can.
const tmp = tempDir()
let anvil: Anvil
let proxy: RpcProxy
let market: LocalMarket
let relayer: ChildProcess
const faults: Partial<Record<RpcFault, number>> = { 'http-5xx': 1 }

const get = async (url: string) => {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) })
  return { status: res.status, text: await res.text() }
}
/** A sample of a metric by name and labels, from the Prometheus text. */
const sample = (text: string, series: string) =>
  text
    .split('\n')
    .find((l) => l.startsWith(`${series} `))
    ?.split(' ')[1]

beforeAll(async () => {
  anvil = await startAnvil({ blockTime: 1 })
  proxy = await startRpcProxy(anvil.rpcUrl, { faults })
  market = await setUpLocalMarket({
    rpcUrl: anvil.rpcUrl,
    dir: tmp.dir,
    slotSeconds: 2,
    feeBps: 100,
    graceSeconds: 1,
    logLevel: 'warn',
  })
  const yaml = market.relayers[0]!.yaml
  const config = parse(readFileSync(yaml, 'utf8')) as { chains: { rpc: string[] }[] }
  config.chains[0]!.rpc = [proxy.url]
  writeFileSync(yaml, stringify(config))
  relayer = launchQantara(['relay', '--config', yaml], join(tmp.dir, 'relayer.log'))
}, 120_000)

afterAll(async () => {
  relayer?.kill('SIGKILL')
  await proxy?.close()
  await anvil?.stop()
  tmp.cleanup()
})

describe('a relayer seen by its supervisor and Prometheus', () => {
  it('is live but not ready while every RPC answer fails, and ready once its watcher reads the chain', async () => {
    const { url, metricsUrl } = market.relayers[0]!
    const live = await waitFor(
      async () => (await get(`${url}/livez`).catch(() => undefined)) ?? undefined,
      'the API',
      30_000,
    )
    expect(live).toEqual({ status: 200, text: JSON.stringify({ live: true }) })
    const notReady = await get(`${url}/healthz`)
    expect(notReady.status).toBe(503)
    expect(JSON.parse(notReady.text)).toMatchObject({
      ready: false,
      chains: { [LOCAL_CHAIN]: { ready: false } },
    })
    const stalled = (await get(`${metricsUrl}/metrics`)).text
    expect(sample(stalled, `qantara_watcher_up{chain="${LOCAL_CHAIN}"}`)).toBe('1')
    // Never read the chain: its progress stays at the relayer's start, which an alert on its age catches
    // (docker/prometheus/alerts.yml).
    const progress = (text: string) =>
      Number(sample(text, `qantara_chain_last_progress_timestamp_seconds{chain="${LOCAL_CHAIN}"}`))
    const since = progress(stalled)
    expect(since).toBeGreaterThan(Date.now() / 1000 - 60)
    await new Promise((r) => setTimeout(r, 1_500))
    expect(progress((await get(`${metricsUrl}/metrics`)).text)).toBe(since)
    expect(Number(sample(stalled, 'process_resident_memory_bytes'))).toBeGreaterThan(10_000_000)
    expect(Number(sample(stalled, 'qantara_tick_last_timestamp_seconds'))).toBeGreaterThan(
      Date.now() / 1000 - 30,
    )

    delete faults['http-5xx']
    await waitFor(
      async () => ((await get(`${url}/healthz`)).status === 200 ? true : undefined),
      'ready',
      60_000,
    )
    const progressing = (await get(`${metricsUrl}/metrics`)).text
    expect(progress(progressing)).toBeGreaterThan(since)
    expect((await get(`${url}/livez`)).status).toBe(200)
  }, 120_000)
})
