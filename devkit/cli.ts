#!/usr/bin/env node
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { Command } from 'commander'
import { errorMessage, isQantaraError } from '../src/errors.js'
import type { DevnetOptions } from './devnet/options.js'
import { runDevnet } from './devnet/run.js'
import { scaleOutSoak } from './soak/scaleOutSoak.js'
import { startFaultyRelayer, type RelayerFaults } from './relayer.js'

/** One root controller, as in the product's CLI: SIGTERM or SIGINT aborts it, and the devnet stops its chains and processes. */
const root = new AbortController()
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => root.abort(new Error(sig)))
const out = (line: string) => console.log(line)
const int = (v: string) => Number.parseInt(v, 10)

const program = new Command()
  .name('qantara-devkit')
  .description('development tools of Qantara: a whole market on one machine, and relayers with test faults')

program
  .command('devnet')
  .description('run the whole market locally: anvil, escrow, one provider agent, relayers, three orders')
  .option('--json', 'end with one JSON line {"orders":[…]} on stdout; progress goes to stderr')
  .option('--slot-seconds <n>', 'slot length in seconds', int, 2)
  .option('--slots <n>', 'slots per order', int, 6)
  .option('--dir <path>', 'where configs, keys, stores and logs go', '.devnet')
  .option(
    '--relayers <n>',
    'relayers in the quorum, each its own process with its own store and keys',
    int,
    1,
  )
  .option('--threshold <n>', 'signatures needed to settle', int, 1)
  .option('--kill-relayer <i>', 'kill relayer i (1-based) mid-run and leave it down', int)
  .option(
    '--byzantine <i>',
    'relayer i (1-based) forges heartbeats, withholds its own from every other request, signs inflated settlements and serves malleated signatures',
    int,
  )
  .option(
    '--btc',
    'add btcd (regtest, built with go install on first use), a solver, and an order whose provider is paid in BTC',
  )
  .option('--solana', 'add a Solana vault (litesvm behind a local JSON-RPC server) and an order paid into it')
  .option(
    '--cosmos',
    'add a Cosmos vault (simd, built from Go modules on first use) and an order paid into it',
  )
  .option('--keep', 'keep the market up once the orders settle, until interrupted, to look at the dashboard')
  .option(
    '--webhook <url>',
    "send every relayer's webhook events (docs/WEBHOOKS.md) to this receiver; repeat for more",
    (url: string, all: string[] = []) => [...all, url],
  )
  .action(async (o: DevnetOptions) => {
    await runDevnet(o, out, root.signal, (rows) => {
      if (o.json) out(JSON.stringify({ orders: rows }))
    })
  })

program
  .command('relay')
  .description(
    'run a relayer as `qantara relay` does, with test faults around its parts (see faultyRelayerArgs)',
  )
  .requiredOption('--config <file>', 'relayer YAML config')
  .option(
    '--byzantine',
    'forge heartbeats, withhold its own from every other request, sign inflated settlements and serve malleated signatures',
  )
  .option('--peer-delay-ms <n>', 'answer every peer request this late', int)
  .action(async (o: { config: string } & RelayerFaults) => {
    const running = await startFaultyRelayer(o.config, o, root.signal)
    await running.done
  })

program
  .command('soak')
  .description(
    'one relayer identity as four processes on PostgreSQL (two leader candidates, two probe workers) settling orders on anvil while the leader, a worker or PostgreSQL is SIGKILLed at random; checks every order settled once with the right split',
  )
  .option('--kills <n>', 'SIGKILLs, in turn of the leader, a worker and PostgreSQL', int, 30)
  .option('--orders <n>', 'orders, spread over the kills (default: one per two kills, at least 10)', int)
  .option('--dir <path>', 'where configs, keys and logs go', '.soak')
  .option(
    '--rpc-faults',
    'reach anvil only through two RPC proxies that hang, 5xx, garbage, truncate, lag and rewind the head',
  )
  .action(async (o: { kills: number; orders?: number; dir: string; rpcFaults?: boolean }) => {
    const dir = resolve(o.dir)
    mkdirSync(dir, { recursive: true })
    const report = await scaleOutSoak({
      dir,
      kills: o.kills,
      orders: o.orders ?? Math.max(10, Math.ceil(o.kills / 2)),
      log: (line) => console.error(line),
      rpcFaults: o.rpcFaults ?? false,
    })
    out(JSON.stringify(report))
    if (report.failures.length) process.exitCode = 1
  })

try {
  await program.parseAsync(process.argv)
} catch (err) {
  console.error(isQantaraError(err) ? `${err.code}: ${err.message}` : `error: ${errorMessage(err)}`)
  process.exitCode = 1
}
