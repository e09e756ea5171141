import { execFile } from 'node:child_process'
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { tempDir } from './support/tmp.js'

// The shipped systemd units, read by systemd's own parser (systemd-analyze, from Debian's systemd package): a
// directive it does not know or cannot parse is a warning it prints, and the unit would silently run without it.
const tmp = tempDir()
afterAll(tmp.cleanup)
const UNITS = ['qantara-relayer.service', 'qantara-agent.service']

async function verify(path: string): Promise<string> {
  const { stderr } = await promisify(execFile)('systemd-analyze', ['verify', '--man=no', path])
  return stderr
}

describe('shipped systemd units', () => {
  for (const unit of UNITS)
    it(`${unit} parses without a warning and starts the CLI`, async () => {
      const path = join(tmp.dir, unit)
      copyFileSync(join('docker/systemd', unit), path)
      expect(await verify(path)).toBe('')
      expect(readFileSync(path, 'utf8')).toMatch(
        /^ExecStart=\/usr\/bin\/node \/opt\/qantara\/dist\/src\/app\/cli\/main\.js /m,
      )
    })

  it('would report a directive systemd cannot parse', async () => {
    const path = join(tmp.dir, 'broken.service')
    writeFileSync(
      path,
      readFileSync('docker/systemd/qantara-relayer.service', 'utf8').replace(
        'Restart=always',
        'Restart=sometimes',
      ),
    )
    expect(await verify(path)).toContain('Failed to parse service restart specifier')
  })
})
