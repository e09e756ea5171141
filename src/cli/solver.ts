import type { Command } from 'commander'
import { QantaraError } from '../errors.js'
import { buildSolverParts } from '../families.js'
import { createLogger, silentLogger } from '../log.js'
import { loadSolverConfig, startSolver } from '../solver/start.js'

export function registerSolverCommands(program: Command, out: (line: string) => void, signal: AbortSignal): void {
  const solver = program.command('solver').description('pay providers in BTC for orders quoted by this solver, and sign quotes')

  solver.command('run')
    .requiredOption('--config <file>', 'solver YAML config')
    .description('watch the escrow chains and pay, once each, what settled orders owe in BTC')
    .action(async (o: { config: string }) => {
      const { config } = loadSolverConfig(o.config, process.env)
      const running = await startSolver(o.config, process.env, createLogger({ level: config.log.level, name: 'solver' }), signal)
      await running.done
    })

  solver.command('quote')
    .requiredOption('--config <file>', 'solver YAML config')
    .requiredOption('--chain <caip2>', 'escrow chain of the order')
    .requiredOption('--order-id <hex>', 'the order id the renter will open (orderIdFor(renter, salt))')
    .requiredOption('--script <hex>', 'the provider\'s Bitcoin output script')
    .requiredOption('--rate <satsPerE18>', 'satoshis per 10^18 smallest units of the order token', (v) => BigInt(v))
    .requiredOption('--deadline <unix>', 'payout deadline, unix seconds', (v) => BigInt(v))
    .description('sign the quote an order paid in BTC is opened with; prints one JSON line')
    .action(async (o: { config: string; chain: string; orderId: string; script: string; rate: bigint; deadline: bigint }) => {
      const { config, baseDir } = loadSolverConfig(o.config, process.env)
      const chain = buildSolverParts(config, process.env, baseDir, silentLogger()).chains.find((c) => c.chain === o.chain)
      if (!chain) throw new QantaraError('CONFIG_INVALID', `${o.config} configures no chain ${o.chain}`)
      const script = o.script.replace(/^0x/, '').toLowerCase()
      const signature = await chain.quote({ orderId: o.orderId, script, satsPerE18: o.rate, payoutDeadline: o.deadline })
      out(JSON.stringify({ orderId: o.orderId, script, solver: chain.address, satsPerE18: o.rate.toString(), payoutDeadline: o.deadline.toString(), signature }))
    })
}
