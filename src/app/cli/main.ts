#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander'
import { startAgent } from '../agent.js'
import { doctorChecks, doctorText } from '../doctor.js'
import { loadConfig } from '../loadConfig.js'
import { redactUrls } from '../../http/redactUrl.js'
import { createLogger } from '../../log.js'
import { RELAYER_ROLES, type RelayerRole } from '../probing.js'
import { startRelayer } from '../relayer.js'
import { startWorker } from '../worker.js'
import { registerBtcCommands } from './btc.js'
import { registerDeployCommands } from './deploy.js'
import { EXIT, failureOf } from './exitCodes.js'
import { registerInitCommand } from './init.js'
import { registerKeysCommands } from './keys.js'
import { CONFIG_KINDS, configReport, configReportText, type ConfigKind } from './configValidate.js'
import { registerOrderCommands } from './order.js'
import { cliOutput, jsonLine } from './output.js'
import { registerProviderCommands } from './providers.js'
import { registerVaultMemoCommand } from './vaultMemo.js'
import { registerVaultInitCommands } from './vaultInit.js'
import { registerRelayerCommands } from './relayers.js'
import { registerSolverCommands } from './solver.js'

/** One root controller: SIGTERM or SIGINT aborts it, and every loop drains and returns. */
const root = new AbortController()
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => root.abort(new Error(sig)))

const program = new Command()
  .name('qantara')
  .description('Cross-chain oracle and settlement relayer for a decentralised GPU-rental market')
  .version('0.1.0')
  .option(
    '--json',
    'machine output: JSON lines on stdout, an error as {"error","message","exitCode"} (docs/CLI.md)',
  )
  // Before any command is added, so every command inherits both: usage errors end in the catch below, with exit code 2.
  .exitOverride()
  // Under --json nothing but the one JSON error is written: no usage text, no help a missing subcommand shows on stderr.
  .configureOutput({
    outputError: (text, write) => (jsonMode() ? undefined : write(text)),
    writeErr: (text) => (jsonMode() ? undefined : process.stderr.write(text)),
  })
function jsonMode(): boolean {
  return program.opts<{ json?: boolean }>().json === true
}
const io = cliOutput(
  jsonMode,
  (line) => console.log(line),
  (line) => console.error(line),
)

program
  .command('config')
  .description('work with relayer configuration files')
  .command('validate')
  .argument('<file>', 'YAML config file')
  .description(
    'check a relayer, agent or solver config, its environment overrides and its keys, offline; prints every problem',
  )
  .addOption(
    new Option('--kind <kind>', "the config's kind; read from its fields when absent").choices(CONFIG_KINDS),
  )
  .action((file: string, o: { kind?: ConfigKind }) => {
    const report = configReport(file, process.env, o.kind)
    io.result(report, () => configReportText(report))
    process.exitCode = report.valid ? EXIT.OK : EXIT.PROBLEMS
  })

program
  .command('doctor')
  .description(
    "check online what a relayer config's relayer would meet: RPCs, contracts or vaults, keys, funds, peers, store",
  )
  .requiredOption('--config <file>', 'relayer YAML config')
  .action(async (o: { config: string }) => {
    const checks = await doctorChecks(o.config, process.env)
    const problems = checks.filter((c) => c.level === 'problem').length
    io.result({ config: o.config, ok: problems === 0, checks }, () => doctorText(o.config, checks))
    process.exitCode = problems > 0 ? EXIT.PROBLEMS : EXIT.OK
  })

program
  .command('relay')
  .description('run a relayer: watchers, prober, settlement, submitters and the HTTP API')
  .requiredOption('--config <file>', 'relayer YAML config')
  .addOption(
    new Option(
      '--role <role>',
      'all: the whole relayer; leader: all but probing, left to workers; worker: probing only (leader and worker need store.postgres)',
    )
      .choices(RELAYER_ROLES)
      .default('all'),
  )
  .action(async (o: { config: string; role: RelayerRole }) => {
    // A worker unlocks the identity key alone: its host needs no chain key.
    const loaded = loadConfig(o.config, process.env, o.role === 'worker' ? 'identity' : 'all')
    const logger = createLogger({ level: loaded.config.log.level, name: loaded.config.relayer.id })
    if (o.role === 'worker') {
      await (
        await startWorker(loaded, logger, root.signal)
      ).done
      return
    }
    const running = await startRelayer(loaded, logger, root.signal, {}, o.role)
    // Deposed: another process of this identity leads now. Exit for the supervisor to restart this one as a standby.
    // Its loops have stopped and its store is closed: exit now, whatever timers a part left behind.
    if ((await running.done) === 'deposed') process.exit(EXIT.DEPOSED)
  })

program
  .command('agent')
  .description('run a provider agent: serves the provider record and signs heartbeats')
  .requiredOption('--config <file>', 'agent YAML config')
  .action(async (o: { config: string }) => {
    const running = await startAgent(o.config, process.env, createLogger({ name: 'agent' }), root.signal)
    await running.done
  })

registerVaultMemoCommand(registerOrderCommands(program, io, root.signal), io)
registerProviderCommands(program, io)
registerInitCommand(program, io)
registerKeysCommands(program, io)
registerDeployCommands(program, io)
registerVaultInitCommands(program, io)
registerRelayerCommands(program, io)
registerBtcCommands(program, io)
registerSolverCommands(program, io, root.signal)

try {
  await program.parseAsync(process.argv)
} catch (err) {
  const failure = failureOf(err)
  // An RPC error's message names the URL it called, which may carry an API key.
  const message = redactUrls(failure.message)
  if (failure.exitCode === EXIT.OK) {
    // --help or --version, printed already.
  } else if (jsonMode()) console.log(jsonLine({ ...failure, message }))
  // Commander has printed its own usage error, with the command's help hint.
  else if (!(err instanceof CommanderError))
    // One line: the class's code and the short message (viem's full text spans a dozen lines).
    console.error(`${failure.error}: ${message}`)
  process.exitCode = failure.exitCode
}
