import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { bitsToTarget, workOf } from '../adapters/bitcoin/header.js'
import { longHeaders, tbtcProof, tbtcProofs } from '../devkit/btcVectors.js'
import { lastJsonLine, runCli } from './support/cli.js'
import { tempDir } from './support/tmp.js'

const tmp = tempDir()
afterAll(tmp.cleanup)
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

async function qantara(args: string[]): Promise<{ code: number; line: unknown }> {
  const { code, stdout } = await runCli(args, { timeoutMs: 30_000 })
  return { code, line: lastJsonLine(stdout) }
}

function file(name: string, body: string): string {
  const path = join(tmp.dir, name)
  writeFileSync(path, body)
  return path
}

const p = tbtcProof(tbtcProofs.transactionConfirmationsInOneEpochData)
const proofJson = {
  tx: hex(p.tx),
  txIndex: p.txIndex,
  merkle: p.merkle.map(hex),
  headers: p.headers.map(hex),
  coinbase: hex(p.coinbase!),
  coinbaseMerkle: p.coinbaseMerkle!.map(hex),
  expectedBits: '17073039',
}

describe('qantara btc', () => {
  it('verify-proof prints the txid, block, confirmations and work of a valid proof, exit 0', async () => {
    expect(await qantara(['btc', 'verify-proof', file('ok.json', JSON.stringify(proofJson))])).toEqual({
      code: 0,
      line: {
        valid: true,
        txid: tbtcProofs.transactionConfirmationsInOneEpochData.transaction.transactionHash,
        blockHash: '0000000000000000000583ee3bb5ba98bd13a70fd2ed69e586c210461740abd3',
        confirmations: 6,
        work: (6n * workOf(bitsToTarget(0x17073039)!)).toString(),
      },
    })
  })

  it('verify-proof names what is wrong, exit 1', async () => {
    expect(
      await qantara([
        'btc',
        'verify-proof',
        file('bits.json', JSON.stringify({ ...proofJson, expectedBits: '170689a3' })),
      ]),
    ).toEqual({ code: 1, line: { valid: false, reason: 'UNEXPECTED_BITS' } })
    expect(
      await qantara([
        'btc',
        'verify-proof',
        file('index.json', JSON.stringify({ ...proofJson, txIndex: 18 })),
      ]),
    ).toEqual({ code: 1, line: { valid: false, reason: 'MERKLE_MISMATCH' } })
    expect(await qantara(['btc', 'verify-proof', file('junk.json', '{"tx": "zz"')])).toEqual({
      code: 1,
      line: { valid: false, reason: 'MALFORMED' },
    })
    expect(
      await qantara(['btc', 'verify-proof', file('extra.json', JSON.stringify({ ...proofJson, extra: 1 }))]),
    ).toEqual({ code: 1, line: { valid: false, reason: 'MALFORMED' } })
    expect(await qantara(['btc', 'verify-proof', join(tmp.dir, 'missing.json')])).toEqual({
      code: 1,
      line: { valid: false, reason: 'MALFORMED' },
    })
  })

  it('verify-headers checks a chain across a retarget, and places the epoch boundary from --height', async () => {
    const lines = file(
      'headers.txt',
      `${longHeaders.chain.map((e) => e.hex.replace(/^0x/, '')).join('\n')}\n`,
    )
    const ok = await qantara([
      'btc',
      'verify-headers',
      lines,
      '--height',
      String(longHeaders.chain[0]!.height),
    ])
    expect(ok).toMatchObject({
      code: 0,
      line: {
        valid: true,
        count: 198,
        tip: '000000000000000000046ab871fdf2a068139fca9dd92d8e60b1770475b875c4',
      },
    })
    expect(
      await qantara(['btc', 'verify-headers', lines, '--height', String(longHeaders.chain[0]!.height + 1)]),
    ).toEqual({ code: 1, line: { valid: false, reason: 'UNEXPECTED_BITS', index: 95 } })
    const swapped = file('swapped.txt', [longHeaders.chain[1]!.hex, longHeaders.chain[0]!.hex].join('\n'))
    expect(await qantara(['btc', 'verify-headers', swapped])).toEqual({
      code: 1,
      line: { valid: false, reason: 'BAD_LINK', index: 1 },
    })
    expect(await qantara(['btc', 'verify-headers', file('bad.txt', 'nothex\n')])).toEqual({
      code: 1,
      line: { valid: false, reason: 'MALFORMED', index: 0 },
    })
  })
})
