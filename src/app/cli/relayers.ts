import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { z } from 'zod'
import type { RelayerSet, RelayerSetApproval, RelayerSetTool } from '../../relayerSet.js'
import { loadConfig } from '../loadConfig.js'
import { QantaraError } from '../../errors.js'
import { relayerSetTool } from '../families.js'
import type { CliOutput } from './output.js'

const MAX_APPROVAL_BYTES = 64 * 1024

const approvalFile = z.strictObject({
  chain: z.string().max(64),
  version: z.string().regex(/^\d{1,20}$/),
  members: z.array(z.string().max(128)).min(1).max(255),
  threshold: z.number().int().min(1).max(255),
  signer: z.string().max(128),
  signature: z.string().max(1024),
})

function toFile(a: RelayerSetApproval) {
  return {
    chain: a.chain,
    version: a.update.version.toString(),
    members: a.update.members,
    threshold: a.update.threshold,
    signer: a.signer,
    signature: a.signature,
  }
}

function toSetJson(s: RelayerSet) {
  return { version: s.version.toString(), members: s.members, threshold: s.threshold }
}

/** Reads an approval another operator sent: untrusted, so bounded and checked field by field. */
function readApproval(path: string): RelayerSetApproval {
  const text = readFileSync(path)
  if (text.length > MAX_APPROVAL_BYTES)
    throw new QantaraError('ROTATION_REFUSED', `${path} is larger than an approval can be`)
  let parsed: z.infer<typeof approvalFile>
  try {
    parsed = approvalFile.parse(JSON.parse(text.toString('utf8')))
  } catch (cause) {
    throw new QantaraError(
      'ROTATION_REFUSED',
      `${path} is not an approval written by \`qantara relayers approve\``,
      { cause },
    )
  }
  return {
    chain: parsed.chain as RelayerSetApproval['chain'],
    update: { version: BigInt(parsed.version), members: parsed.members, threshold: parsed.threshold },
    signer: parsed.signer,
    signature: parsed.signature,
  }
}

function toolFor(configPath: string, chainId: string): RelayerSetTool {
  const { config, signers } = loadConfig(configPath, process.env)
  const i = config.chains.findIndex((c) => c.id === chainId)
  if (i < 0) throw new QantaraError('CONFIG_INVALID', `${configPath} configures no chain ${chainId}`)
  return relayerSetTool(config.chains[i]!, signers[i]!)
}

/**
 * Relayer-set rotation by the quorum: every operator approves the same
 * proposal with the key their relayer signs settlements with, and any one
 * applies it once a quorum of the current set has approved. Open orders are
 * then settled by the new set; relayers follow the change from the chain.
 */
export function registerRelayerCommands(program: Command, io: CliOutput): void {
  // Approvals are files other operators read, and sets are compared by eye and by script alike: JSON either way.
  const out = (value: unknown) => io.result(value, () => JSON.stringify(value))
  const relayers = program.command('relayers').description("inspect and rotate a chain's relayer set")
  const common = (cmd: Command) =>
    cmd
      .requiredOption('--config <file>', "this operator's relayer YAML config")
      .requiredOption('--chain <caip2>', 'the chain whose set it is')

  common(relayers.command('show').description('print the relayer set the chain holds now')).action(
    async (o: { config: string; chain: string }) => {
      out(toSetJson(await toolFor(o.config, o.chain).current()))
    },
  )

  common(
    relayers
      .command('approve')
      .description(
        "sign a proposed set (for the chain's next version) with this relayer's key; prints the approval",
      ),
  )
    .requiredOption('--members <addresses>', 'comma-separated member addresses of the new set')
    .requiredOption('--threshold <n>', 'signatures the new set will need', (v) => Number.parseInt(v, 10))
    .action(async (o: { config: string; chain: string; members: string; threshold: number }) => {
      const members = o.members
        .split(',')
        .map((m) => m.trim())
        .filter(Boolean)
      out(toFile(await toolFor(o.config, o.chain).approve(members, o.threshold)))
    })

  common(
    relayers
      .command('apply')
      .description('submit a proposal once a quorum of the current set approved it; a repeat is harmless'),
  )
    .argument('<approvals...>', 'approval files written by `qantara relayers approve`')
    .action(async (files: string[], o: { config: string; chain: string }) => {
      const tool = toolFor(o.config, o.chain)
      const result = await tool.apply(files.map(readApproval))
      out({ ...result, set: toSetJson(await tool.current()) })
    })
}
