import { createServer } from 'node:http'
import { dirname, resolve } from 'node:path'
import { Gauge, Registry } from 'prom-client'
import { z } from 'zod'
import { BITCOIN_CHAIN_IDS, bitcoinConfigSchema } from '../../adapters/bitcoin/config.js'
import { btcPayer } from '../../adapters/bitcoin/payer.js'
import { BtcWallet } from '../../adapters/bitcoin/wallet.js'
import { keySourceSchema } from '../config/keySource.js'
import { QantaraError } from '../errors.js'
import type { Logger } from '../log.js'
import { SqliteStore } from '../store/sqlite.js'
import { Solver } from '../solver/solver.js'
import { bitcoinRpc, plainSecret } from './bitcoin.js'
import { adapterOf, chainConfigSchema, loadChainSigner } from './families.js'
import { applyEnvOverrides, readConfigFile, schemaProblems } from './loadConfig.js'

/** A solver's config: its Bitcoin node and key, and the escrow chains it takes orders on (their key signs its quotes). */
export const solverConfigSchema = z
  .strictObject({
    store: z.strictObject({
      path: z.string().min(1).describe("SQLite file of the solver's orders and payments"),
    }),
    log: z
      .strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info') })
      .prefault({}),
    bitcoin: bitcoinConfigSchema,
    btcKey: keySourceSchema.describe(
      "the solver wallet's key: a WIF, or a wpkh(<WIF>) descriptor, from { env } or { file }",
    ),
    fallbackFeeRate: z
      .number()
      .min(1)
      .max(1_000)
      .default(2)
      .describe('sat/vB when the node has no estimate (regtest, a fresh node)'),
    maxFeeRate: z
      .number()
      .min(1)
      .max(10_000)
      .default(200)
      .describe('sat/vB never exceeded, whatever the node estimates'),
    metrics: z
      .strictObject({
        listen: z
          .string()
          .regex(/^[^:]+:\d+$/)
          .describe('host:port of /metrics'),
      })
      .optional(),
    chains: z.array(chainConfigSchema).min(1),
    tokens: z
      .record(z.string(), z.array(z.string().min(1)).min(1))
      .optional()
      .describe(
        'per escrow chain id, the tokens the solver quotes and pays for (`native` or a token address); a chain left out takes its native asset only. An order in any other token is never paid',
      ),
    proofSafetyFactor: z
      .number()
      .min(1)
      .max(20)
      .default(3)
      .describe(
        'the time the solver needs before a payout deadline to pay is bitcoin.confirmations × 10 min × this; with less left it does not pay',
      ),
    proofLatencySeconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 86_400)
      .optional()
      .describe(
        'overrides confirmations × 10 min × proofSafetyFactor: seconds needed between paying and the payout deadline (a regtest devnet, whose blocks come on demand)',
      ),
  })
  .refine((c) => c.bitcoin.rpc !== undefined, {
    path: ['bitcoin', 'rpc'],
    message: 'the solver pays through a node: give bitcoin.rpc (Esplora is for relayers)',
  })
  .refine((c) => Object.keys(c.tokens ?? {}).every((id) => c.chains.some((chain) => chain.id === id)), {
    path: ['tokens'],
    message: 'names a chain that is not in chains',
  })

export type SolverConfig = z.infer<typeof solverConfigSchema>

/** The solver's parts: its Bitcoin payer and wallet, and each escrow chain as its family's adapter serves a solver. */
export function buildSolverParts(
  config: SolverConfig,
  env: NodeJS.ProcessEnv,
  baseDir: string,
  logger: Logger,
) {
  const b = config.bitcoin
  const rpc = bitcoinRpc(b.rpc!, env, baseDir)
  const wallet = BtcWallet.fromKeyText(plainSecret(config.btcKey, 'btcKey', env, baseDir), b.network)
  const payer = btcPayer({
    chain: BITCOIN_CHAIN_IDS[b.network],
    rpc,
    wallet,
    fallbackFeeRate: config.fallbackFeeRate,
    maxFeeRate: config.maxFeeRate,
  })
  const chains = config.chains.map((chain) => {
    const signer = loadChainSigner(chain, env, baseDir)
    const adapter = adapterOf(chain.family)
    if (!adapter.btcPayouts || !adapter.solverChain)
      throw new QantaraError('CONFIG_INVALID', `${chain.id}: ${chain.family} chains take no BTC orders`)
    return adapter.solverChain(chain, signer, config.tokens?.[chain.id], logger)
  })
  return { payer, wallet, chains }
}

export function loadSolverConfig(
  path: string,
  env: NodeJS.ProcessEnv,
): { config: SolverConfig; baseDir: string } {
  const parsed = solverConfigSchema.safeParse(
    applyEnvOverrides(readConfigFile(path), env, solverConfigSchema),
  )
  if (!parsed.success) {
    const problems = schemaProblems(parsed.error)
    throw new QantaraError('CONFIG_INVALID', `solver config ${path} has ${problems.length} problem(s)`, {
      metaMessages: problems.map((p) => `  ${p.path}: ${p.message}`),
    })
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
  return (
    config.proofLatencySeconds ?? Math.ceil(config.bitcoin.confirmations * 600 * config.proofSafetyFactor)
  )
}

/** Runs a solver until `signal` aborts: watches its escrow chains, pays what settled orders owe in BTC, reports its liquidity. */
export async function startSolver(
  path: string,
  env: NodeJS.ProcessEnv,
  logger: Logger,
  signal: AbortSignal,
): Promise<{ done: Promise<void>; address: string }> {
  const { config, baseDir } = loadSolverConfig(path, env)
  const parts = buildSolverParts(config, env, baseDir, logger)
  const store = new SqliteStore(resolve(baseDir, config.store.path))
  const registry = new Registry()
  const liquidity = new Gauge({
    name: 'qantara_solver_liquidity_sats',
    help: 'spendable satoshis in the solver wallet, coins of pending payouts excluded',
    registers: [registry],
  })
  const solver = new Solver({
    addresses: new Map(parts.chains.map((c) => [c.chain, c.address])),
    tokens: new Map(parts.chains.map((c) => [c.chain, c.tokens])),
    minPayoutWindowSeconds: minPayoutWindowSeconds(config),
    watchers: parts.chains.map((c) => ({ watcher: c.watch(store), pollIntervalMs: c.pollIntervalMs })),
    payer: parts.payer,
    store,
    liquidity,
    logger,
  })
  const server = config.metrics
    ? createServer((req, res) => {
        if (req.url !== '/metrics') return void res.writeHead(404).end()
        void registry
          .metrics()
          .then((m) => res.writeHead(200, { 'content-type': registry.contentType }).end(m))
      })
    : undefined
  if (server && config.metrics) {
    const [host, port] = config.metrics.listen.split(':') as [string, string]
    await new Promise<void>((ok) => server.listen(Number(port), host, () => ok()))
  }
  logger.info(
    { btcAddress: parts.wallet.address, chains: parts.chains.map((c) => c.chain) },
    'solver started',
  )
  const done = solver.run(signal).finally(async () => {
    server?.close()
    await store.close()
  })
  return { done, address: parts.wallet.address }
}
