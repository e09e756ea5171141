import { statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { startAnvil, type Anvil } from '../devkit/chains/anvil.js'
import { runCli } from './support/cli.js'
import { tempDir } from './support/tmp.js'

// `qantara init` as an operator starts: keys and a config that, once the deployer has written the record it names,
// validates as it is. anvil is the chain the record is deployed on.
const tmp = tempDir()
let anvil: Anvil
beforeAll(async () => {
  anvil = await startAnvil()
})
afterAll(async () => {
  await anvil.stop()
  tmp.cleanup()
})

describe('qantara init', () => {
  it("writes an operator's keys and a relayer config that validates once its deployment record exists", async () => {
    const dir = join(tmp.dir, 'relayer-a')
    const init = await runCli([
      'init',
      '--dir',
      dir,
      '--id',
      'relayer-a',
      '--chain',
      `eip155:31337=${anvil.rpcUrl}`,
    ])
    expect(init.code, init.stderr).toBe(0)
    const member = (parse(init.stdout) as Record<string, string>[])[0]!
    expect(member).toMatchObject({
      id: 'relayer-a',
      identity: expect.stringMatching(/^0x[0-9a-f]{64}$/) as string,
    })
    for (const key of ['identity.key', 'evm.key'])
      expect(statSync(join(dir, 'keys', key)).mode & 0o777).toBe(0o600)
    expect(init.stdout).toContain(join(dir, 'deployments/eip155-31337.json'))

    const before = await runCli(['config', 'validate', join(dir, 'relayer.yaml')])
    expect(before.code).toBe(1)
    expect(before.stdout).toContain('does not exist: run qantara deploy or qantara vault init first')

    // Anvil's first account deploys, for a quorum of this one relayer.
    const deployer = join(tmp.dir, 'deployer.key')
    writeFileSync(deployer, '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n', {
      mode: 0o600,
    })
    const deploy = await runCli([
      ...['deploy', 'evm', '--rpc', anvil.rpcUrl, '--chain', 'eip155:31337', '--key-file', deployer],
      ...['--relayers', member.evm!, '--threshold', '1', '--out', join(dir, 'deployments/eip155-31337.json')],
    ])
    expect(deploy.code, deploy.stderr).toBe(0)
    const after = await runCli(['config', 'validate', join(dir, 'relayer.yaml')])
    expect(after.stdout).toContain('valid relayer config — relayer relayer-a, 1 chain(s), threshold 1 of 1')
    expect(after.code).toBe(0)

    const again = await runCli([
      'init',
      '--dir',
      dir,
      '--id',
      'relayer-a',
      '--chain',
      `eip155:31337=${anvil.rpcUrl}`,
    ])
    expect(again.code).toBe(2)
    expect(again.stderr).toContain('init never overwrites')
  })

  it('refuses a chain it cannot serve, before it writes anything', async () => {
    const dir = join(tmp.dir, 'tron')
    const run = await runCli([
      'init',
      '--dir',
      dir,
      '--id',
      'x',
      '--chain',
      'tron:mainnet=https://tron.example',
    ])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('not a chain id of evm, solana, cosmos')
    expect(() => statSync(dir)).toThrow()
  })
})
