import { execFileSync } from 'node:child_process'
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { tempDir } from './support/tmp.js'

const tmp = tempDir()
afterAll(tmp.cleanup)

function check(dir?: string): { status: number; stderr: string } {
  try {
    execFileSync(
      process.execPath,
      ['scripts/build-contracts.mjs', '--check', ...(dir ? ['--dir', dir] : [])],
      { encoding: 'utf8', stdio: 'pipe' },
    )
    return { status: 0, stderr: '' }
  } catch (err) {
    return { status: (err as { status: number }).status, stderr: (err as { stderr: string }).stderr }
  }
}

describe('compiled contract artifacts', () => {
  it('match a fresh compile of the committed Solidity sources', () => {
    expect(check()).toEqual({ status: 0, stderr: '' })
  })

  it('are reported stale when a source changes without a rebuild', () => {
    const dir = join(tmp.dir, 'contracts')
    cpSync('adapters/evm/contracts', dir, { recursive: true })
    const sol = join(dir, 'QantaraEscrow.sol')
    writeFileSync(
      sol,
      readFileSync(sol, 'utf8').replace(
        'uint256 private constant NATIVE_PAYMENT_GAS = 50_000;',
        'uint256 private constant NATIVE_PAYMENT_GAS = 60_000;',
      ),
    )
    const result = check(dir)
    expect(result.status).toBe(1)
    expect(result.stderr).toContain('stale artifact:')
    expect(result.stderr).toContain('QantaraEscrow.ts')
  })
})
