import { InvalidArgumentError, type Command } from 'commander'
import { QantaraError } from '../../errors.js'
import { createLogger, silentLogger } from '../../log.js'
import { NATIVE_TOKEN } from '../../order.js'
import { buildSolverParts, loadSolverConfig, minPayoutWindowSeconds, startSolver } from '../solver.js'
import type { CliOutput } from './output.js'

function unsigned(v: string): bigint {
  if (!/^\d{1,30}$/.test(v)) throw new InvalidArgumentError('not a whole number')
  return BigInt(v)
}

export function registerSolverCommands(program: Command, io: CliOutput, signal: AbortSignal): void {
  const solver = program
    .command('solver')
    .description('pay providers in BTC for orders quoted by this solver, and sign quotes')

  solver
    .command('run')
    .requiredOption('--config <file>', 'solver YAML config')
    .description('watch the escrow chains and pay, once each, what settled orders owe in BTC')
    .action(async (o: { config: string }) => {
      const { config } = loadSolverConfig(o.config, process.env)
      const running = await startSolver(
        o.config,
        process.env,
        createLogger({ level: config.log.level, name: 'solver' }),
        signal,
      )
      await running.done
    })

  solver
    .command('quote')
    .requiredOption('--config <file>', 'solver YAML config')
    .requiredOption('--chain <caip2>', 'escrow chain of the order')
    .requiredOption('--order-id <hex>', 'the order id the renter will open (orderIdFor(renter, salt))')
    .requiredOption('--script <hex>', "the provider's Bitcoin output script")
    .requiredOption('--rate <satsPerE18>', 'satoshis per 10^18 smallest units of the order token', unsigned)
    .requiredOption('--deadline <unix>', 'payout deadline, unix seconds', unsigned)
    .requiredOption(
      '--max-amount <units>',
      "the most the order may lock, in the token's smallest units",
      unsigned,
    )
    .option(
      '--token <address>',
      'the order\'s token, "native" or an address among the config\'s tokens',
      NATIVE_TOKEN,
    )
    .option(
      '--open-by <unix>',
      'the quote opens no order after this, unix seconds (default: 10 minutes from now)',
      unsigned,
    )
    .option(
      '--latest-end <unix>',
      "the order must end by this, unix seconds (default: the deadline less the solver's proof latency)",
      unsigned,
    )
    .description('sign the quote an order paid in BTC is opened with; prints one JSON line')
    .action(
      async (o: {
        config: string
        chain: string
        orderId: string
        script: string
        rate: bigint
        deadline: bigint
        maxAmount: bigint
        token: string
        openBy?: bigint
        latestEnd?: bigint
      }) => {
        const { config, baseDir } = loadSolverConfig(o.config, process.env)
        const chain = buildSolverParts(config, process.env, baseDir, silentLogger()).chains.find(
          (c) => c.chain === o.chain,
        )
        if (!chain) throw new QantaraError('CONFIG_INVALID', `${o.config} configures no chain ${o.chain}`)
        const token = [...chain.tokens].find((t) => t.toLowerCase() === o.token.toLowerCase())
        if (!token)
          throw new QantaraError(
            'CONFIG_INVALID',
            `--token ${o.token} is not among the tokens this solver pays for on ${o.chain} (config tokens: ${[...chain.tokens].join(', ')})`,
          )
        // The solver refuses to pay with less than its proof latency left, so an order ending later would likely go unpaid.
        const window = BigInt(minPayoutWindowSeconds(config))
        const now = BigInt(Math.floor(Date.now() / 1000))
        const latestEnd = o.latestEnd ?? o.deadline - window
        const openBy = o.openBy ?? now + 600n
        if (o.deadline - latestEnd < window)
          throw new QantaraError(
            'CONFIG_INVALID',
            `--latest-end ${latestEnd} leaves less than the solver's proof latency (${window} s) before --deadline ${o.deadline}: it would not pay an order ending then`,
          )
        if (latestEnd <= now)
          throw new QantaraError(
            'CONFIG_INVALID',
            `no order can end by ${latestEnd}: give a --deadline more than the proof latency (${window} s) after the order's end`,
          )
        if (o.maxAmount === 0n || o.rate === 0n)
          throw new QantaraError('CONFIG_INVALID', '--max-amount and --rate must be above zero')
        const script = o.script.replace(/^0x/, '').toLowerCase()
        const quote = {
          script,
          satsPerE18: o.rate,
          payoutDeadline: o.deadline,
          maxAmount: o.maxAmount,
          openBy,
          latestEnd,
        }
        const signature = await chain.quote({ orderId: o.orderId, token, ...quote })
        const signed = {
          orderId: o.orderId,
          token,
          solver: chain.address,
          ...(chain.memoKey ? { solverKey: chain.memoKey } : {}),
          ...Object.fromEntries(Object.entries(quote).map(([k, v]) => [k, String(v)])),
          signature,
        }
        // The quote is a file the renter opens the order with: JSON either way.
        io.result(signed, () => JSON.stringify(signed))
      },
    )
}
