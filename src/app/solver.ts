import { createServer } from 'node:http'
import { dirname, resolve } from 'node:path'
import { Gauge, Registry } from 'prom-client'
import { applyEnvOverrides, readConfigFile, schemaProblems } from './loadConfig.js'
import { QantaraError } from '../errors.js'
import { buildSolverParts, solverConfigSchema, type SolverConfig } from './families.js'
import type { Logger } from '../log.js'
import { SqliteStore } from '../store/sqlite.js'
import { Solver } from '../solver/solver.js'

export function loadSolverConfig(path: string, env: NodeJS.ProcessEnv): { config: SolverConfig; baseDir: string } {
  const parsed = solverConfigSchema.safeParse(applyEnvOverrides(readConfigFile(path), env))
  if (!parsed.success) {
    const problems = schemaProblems(parsed.error)
    throw new QantaraError('CONFIG_INVALID', `solver config ${path} has ${problems.length} problem(s)`, { metaMessages: problems.map((p) => `  ${p.path}: ${p.message}`) })
  }
  return { config: parsed.data, baseDir: dirname(resolve(path)) }
}

/**
 * Seconds the solver needs left before a payout deadline to pay: its payout's
 * `bitcoin.confirmations` blocks, at 10 minutes each, times a safety factor,
 * since blocks come at random. With the default 3 (three hours for six
 * blocks) they overrun it about 0.03% of the time; and the payout's own block,
 * which must be dated by the deadline (its proof may land in the escrow's grace
 * after it), is so dated even if its miner dates it the 2 hours ahead Bitcoin
 * allows, unless it takes over an hour to come.
 */
export function minPayoutWindowSeconds(config: SolverConfig): number {
  return config.proofLatencySeconds ?? Math.ceil(config.bitcoin.confirmations * 600 * config.proofSafetyFactor)
}

/** Runs a solver until `signal` aborts: watches its escrow chains, pays what settled orders owe in BTC, reports its liquidity. */
export async function startSolver(path: string, env: NodeJS.ProcessEnv, logger: Logger, signal: AbortSignal): Promise<{ done: Promise<void>; address: string }> {
  const { config, baseDir } = loadSolverConfig(path, env)
  const parts = buildSolverParts(config, env, baseDir, logger)
  const store = new SqliteStore(resolve(baseDir, config.store.path))
  const registry = new Registry()
  const liquidity = new Gauge({ name: 'qantara_solver_liquidity_sats', help: 'spendable satoshis in the solver wallet, coins of pending payouts excluded', registers: [registry] })
  const solver = new Solver({
    addresses: new Map(parts.chains.map((c) => [c.chain, c.address])), tokens: new Map(parts.chains.map((c) => [c.chain, c.tokens])),
    minPayoutWindowSeconds: minPayoutWindowSeconds(config), watchers: parts.chains, payer: parts.payer, store, liquidity, logger,
  })
  const server = config.metrics ? createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end()
    void registry.metrics().then((m) => res.writeHead(200, { 'content-type': registry.contentType }).end(m))
  }) : undefined
  if (server && config.metrics) {
    const [host, port] = config.metrics.listen.split(':') as [string, string]
    await new Promise<void>((ok) => server.listen(Number(port), host, () => ok()))
  }
  logger.info({ btcAddress: parts.wallet.address, chains: parts.chains.map((c) => c.chain) }, 'solver started')
  const done = solver.run(signal).finally(async () => {
    server?.close()
    await store.close()
  })
  return { done, address: parts.wallet.address }
}
