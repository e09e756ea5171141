import { QantaraError } from '../../errors.js'
import { readFileSync, statSync } from 'node:fs'
import type { Command } from 'commander'
import {
  MAINNET,
  REGTEST,
  toDisplayHex,
  type BitcoinNetworkParams,
} from '../../../adapters/bitcoin/header.js'
import { verifyHeaderChain } from '../../../adapters/bitcoin/headerChain.js'
import { proofFileSchema, proofFromFile } from '../../../adapters/bitcoin/proofFile.js'
import { verifySpvProof } from '../../../adapters/bitcoin/spvProof.js'
import { EXIT } from './exitCodes.js'
import type { CliOutput } from './output.js'

/** A proof or header file larger than this is not one a relayer would ever post. */
const MAX_FILE_BYTES = 8 * 1024 * 1024

const NETWORKS: Record<string, BitcoinNetworkParams> = { mainnet: MAINNET, regtest: REGTEST }

function readBounded(path: string): string | undefined {
  try {
    if (statSync(path).size > MAX_FILE_BYTES) return undefined
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

function network(name: string): BitcoinNetworkParams {
  const params = NETWORKS[name]
  if (!params)
    throw new QantaraError('CONFIG_INVALID', `--network must be one of ${Object.keys(NETWORKS).join(', ')}`)
  return params
}

/** Offline checks of Bitcoin data for operators and auditors: one JSON line out, exit 0 when valid and 1 when not. */
export function registerBtcCommands(program: Command, io: CliOutput): void {
  const out = (value: unknown) => io.result(value, () => JSON.stringify(value))
  const btc = program.command('btc').description('verify Bitcoin SPV proofs and header chains offline')

  btc
    .command('verify-proof')
    .argument(
      '<file>',
      'proof JSON: {tx, txIndex, merkle, headers, coinbase?, coinbaseMerkle?, expectedBits?}',
    )
    .option('--network <name>', 'mainnet or regtest', 'mainnet')
    .option('--min-confirmations <n>', 'headers the proof must carry', (v) => Number.parseInt(v, 10), 1)
    .description(
      'verify an SPV proof: the transaction, its Merkle branch, and the headers on top of its block',
    )
    .action((file: string, o: { network: string; minConfirmations: number }) => {
      const params = network(o.network)
      const text = readBounded(file)
      let parsed: unknown
      try {
        parsed = text === undefined ? undefined : JSON.parse(text)
      } catch {
        parsed = undefined
      }
      const f = proofFileSchema.safeParse(parsed)
      if (!f.success) {
        out({ valid: false, reason: 'MALFORMED' })
        process.exitCode = EXIT.PROBLEMS
        return
      }
      const { proof, expectedBits } = proofFromFile(f.data)
      const r = verifySpvProof(proof, {
        params,
        minConfirmations: o.minConfirmations,
        ...(expectedBits !== undefined ? { expectedBits } : {}),
      })
      out(
        r.valid
          ? {
              valid: true,
              txid: r.txid,
              blockHash: r.blockHash,
              confirmations: r.confirmations,
              work: r.work.toString(),
            }
          : { valid: false, reason: r.reason },
      )
      process.exitCode = r.valid ? EXIT.OK : EXIT.PROBLEMS
    })

  btc
    .command('verify-headers')
    .argument('<file>', 'one 80-byte header in hex per line, ascending')
    .option('--height <h>', 'height of the first header; lets retargets be checked', (v) =>
      Number.parseInt(v, 10),
    )
    .option('--network <name>', 'mainnet or regtest', 'mainnet')
    .description('verify a header chain: links, proof of work, constant bits inside an epoch, retargets')
    .action((file: string, o: { height?: number; network: string }) => {
      const params = network(o.network)
      const text = readBounded(file)
      const lines = (text ?? '')
        .split('\n')
        .map((l) => l.trim().replace(/^0x/, ''))
        .filter(Boolean)
      const bad =
        text === undefined ? 0 : lines.findIndex((l) => !/^[0-9a-fA-F]*$/.test(l) || l.length % 2 !== 0)
      if (bad >= 0 || (o.height !== undefined && (!Number.isSafeInteger(o.height) || o.height < 0))) {
        out({ valid: false, reason: 'MALFORMED', index: Math.max(bad, 0) })
        process.exitCode = EXIT.PROBLEMS
        return
      }
      const r = verifyHeaderChain(
        lines.map((l) => Uint8Array.from(Buffer.from(l, 'hex'))),
        { params, ...(o.height !== undefined ? { height: o.height } : {}) },
      )
      out(
        r.valid
          ? {
              valid: true,
              count: r.headers.length,
              tip: toDisplayHex(r.headers.at(-1)!.hash),
              work: r.work.toString(),
            }
          : { valid: false, reason: r.reason, index: r.index },
      )
      process.exitCode = r.valid ? EXIT.OK : EXIT.PROBLEMS
    })
}
