import { CommanderError, InvalidArgumentError } from 'commander'
import {
  ContractFunctionRevertedError,
  HttpRequestError,
  ContractFunctionExecutionError,
  InternalRpcError,
  LimitExceededRpcError,
  ResourceUnavailableRpcError,
} from 'viem'
import { describe, expect, it } from 'vitest'
import { formatAmount, parseAmount } from '../src/app/cli/amounts.js'
import { EXIT, exitCodeOf, failureOf } from '../src/app/cli/exitCodes.js'
import { cliOutput, printable } from '../src/app/cli/output.js'
import { QantaraError, errorMessage } from '../src/errors.js'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'

function capture(json: boolean) {
  const stdout: string[] = []
  const stderr: string[] = []
  const io = cliOutput(
    () => json,
    (l) => stdout.push(l),
    (l) => stderr.push(l),
  )
  return { io, stdout, stderr }
}

describe('CLI exit codes', () => {
  it('classes QantaraError codes: usage 2, unreachable 3, refused 4, internal 70, deposed 75', () => {
    expect(
      (['CONFIG_INVALID', 'KEY_UNAVAILABLE', 'RPC_WRONG_CHAIN'] as const).map((c) => exitCodeOf(c)),
    ).toEqual([2, 2, 2])
    expect(
      (['RPC_UNAVAILABLE', 'ENDPOINT_TIMEOUT', 'ENDPOINT_UNREACHABLE', 'RPC_BAD_RESPONSE'] as const).map(
        (c) => exitCodeOf(c),
      ),
    ).toEqual([3, 3, 3, 3])
    expect(
      (['RECORD_REJECTED', 'SUBMIT_REVERTED', 'COSIGN_REFUSED', 'ENDPOINT_REFUSED'] as const).map((c) =>
        exitCodeOf(c),
      ),
    ).toEqual([4, 4, 4, 4])
    expect([exitCodeOf('STORE_FAILED'), exitCodeOf('FENCED'), exitCodeOf('ABORTED')]).toEqual([70, 75, 130])
  })

  it('reports a QantaraError under --json as its code, its whole message and its exit code', () => {
    const err = new QantaraError('RECORD_REJECTED', 'provider record rejected: BAD_SIGNATURE', {
      context: { reason: 'BAD_SIGNATURE' },
      details: 'not signed by providerId',
    })
    expect(failureOf(err)).toEqual({
      error: 'RECORD_REJECTED',
      message: 'provider record rejected: BAD_SIGNATURE\nDetails: not signed by providerId',
      exitCode: EXIT.REFUSED,
    })
  })

  it("classes commander's usage errors as 2, and help or --version as 0", () => {
    expect(
      failureOf(new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'")),
    ).toEqual({
      error: 'USAGE',
      message: "error: unknown option '--x'",
      exitCode: 2,
    })
    expect(failureOf(new InvalidArgumentError('must be a whole number')).exitCode).toBe(2)
    expect(failureOf(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)')).exitCode).toBe(0)
  })

  it("classes viem's transport failures as unreachable and a contract's revert as refused, naming the revert", () => {
    const down = new HttpRequestError({ url: 'http://127.0.0.1:1', body: {}, details: 'fetch failed' })
    expect(failureOf(down)).toMatchObject({ error: 'RPC_UNAVAILABLE', exitCode: 3 })
    const revert = new ContractFunctionExecutionError(
      new ContractFunctionRevertedError({
        abi: qantaraEscrowAbi,
        functionName: 'reclaim',
        data: `0x${'00'.repeat(4)}`,
      }),
      { abi: qantaraEscrowAbi, functionName: 'reclaim', args: [] },
    )
    expect(failureOf(revert)).toMatchObject({ error: 'CHAIN_REFUSED', exitCode: 4 })
  })

  it('classes a file the command was given and cannot read as usage, and anything unknown as internal', () => {
    const missing = Object.assign(new Error("ENOENT: no such file or directory, open 'q.json'"), {
      code: 'ENOENT',
    })
    expect(failureOf(missing)).toMatchObject({ error: 'CONFIG_UNREADABLE', exitCode: 2 })
    const refused = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    })
    expect(failureOf(refused)).toMatchObject({ error: 'ENDPOINT_UNREACHABLE', exitCode: 3 })
    expect(failureOf(new RangeError('a bug'))).toEqual({ error: 'INTERNAL', message: 'a bug', exitCode: 70 })
  })
})

describe('CLI output', () => {
  it('prints a result under --json as one JSON line, amounts as decimal strings, and notes on stderr', () => {
    const { io, stdout, stderr } = capture(true)
    io.note('# sending the escrow')
    io.result({ amount: 12_500_000n, decimals: 6 }, () => 'for people')
    expect(stdout).toEqual(['{"amount":"12500000","decimals":6}'])
    expect(stderr).toEqual(['# sending the escrow'])
  })

  it('prints lines for people, and notes with them, without --json', () => {
    const { io, stdout, stderr } = capture(false)
    io.note('# sending')
    io.result({ ignored: true }, () => ['one', 'two'])
    expect(stdout).toEqual(['# sending', 'one', 'two'])
    expect(stderr).toEqual([])
  })

  it("shows someone else's control characters as ?, so a record cannot drive the terminal", () => {
    expect(printable('H100\u001b[2J\u009b31m')).toBe('H100?[2J?31m')
  })
})

describe('CLI amounts', () => {
  it('shows the smallest unit with the decimals where known', () => {
    expect(formatAmount(1_500_000n, { decimals: 6, symbol: 'USDC' })).toBe('1500000 (1.5 USDC, 6 decimals)')
    expect(formatAmount(1_500_000n, { decimals: 6 })).toBe('1500000 (1.5, 6 decimals)')
    expect(formatAmount(1_500_000n)).toBe('1500000 (smallest units)')
  })

  it('takes an integer of the smallest unit, and refuses a decimal with what it is in smallest units', () => {
    expect(parseAmount('12500000', '--amount')).toBe(12_500_000n)
    const refusal = (text: string, decimals?: number) => {
      try {
        parseAmount(text, '--amount', decimals === undefined ? {} : { decimals })
        return 'accepted'
      } catch (err) {
        return errorMessage(err)
      }
    }
    expect(refusal('12.5', 6)).toContain('12.5 of this 6-decimal token is --amount 12500000')
    expect(refusal('12.5')).toContain('--amount is an integer of the smallest unit')
    expect(refusal('0')).toContain('above 0')
    expect(refusal('1e6')).toContain('not "1e6"')
  })
})

describe('answers worth asking again, and amounts past 256 bits', () => {
  it('classes an RPC rate limit, internal error or unavailable resource as unreachable (3), not a refusal (4)', () => {
    for (const err of [
      new LimitExceededRpcError(new Error('Request exceeds defined limit.')),
      new InternalRpcError(new Error('internal')),
      new ResourceUnavailableRpcError(new Error('busy')),
    ])
      expect(failureOf(err).exitCode).toBe(EXIT.UNREACHABLE)
  })
  it('refuses an amount that fits no chain as a usage error', () => {
    expect(parseAmount((2n ** 256n - 1n).toString(), '--amount')).toBe(2n ** 256n - 1n)
    expect(failureOf(catchOf(() => parseAmount((2n ** 256n).toString(), '--amount'))).exitCode).toBe(
      EXIT.USAGE,
    )
  })
})

function catchOf(f: () => unknown): unknown {
  try {
    f()
  } catch (err) {
    return err
  }
  return undefined
}
