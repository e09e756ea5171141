import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { StargateClient } from '@cosmjs/stargate'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { cosmosKeyFromSecret, cosmosKeys } from '../adapters/cosmos/keys.js'
import { cometClient } from '../adapters/cosmos/rpc.js'
import { inspectConfig } from '../src/app/loadConfig.js'
import { readDeploymentRecord } from '../src/config/deployment.js'
import { startSimd, type Simd } from '../devkit/chains/simd.js'
import { runCli } from './support/cli.js'
import { tempDir } from './support/tmp.js'

const CHAIN = 'cosmos:qantara-local'
const USDC = 'ibc/498A0751C798A0D9A389AA3691123DADA57DAA4FE165D5C75894505B876BA6E4'
// An ed25519 identity whose seed is 32 bytes of 0x07, and its public key.
const IDENTITY = '0xea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c'
const tmp = tempDir()
const at = (name: string) => join(tmp.dir, name)

/** A new Cosmos key in a 0600 file, as `qantara keys new cosmos` writes one. */
function keyFile(name: string) {
  const secret = cosmosKeys.generate()
  writeFileSync(at(name), `${secret}\n`, { mode: 0o600 })
  const key = cosmosKeyFromSecret({ kind: 'hex', value: secret }, 'cosmos')
  return { path: at(name), address: key.address, pubkey: Buffer.from(key.pubkey).toString('base64') }
}

const payer = keyFile('payer.key')
const members = ['a', 'b', 'c'].map((n) => keyFile(`${n}.key`))
let simd: Simd
beforeAll(async () => {
  simd = await startSimd({
    chainId: 'qantara-local',
    accounts: [{ address: payer.address, coins: '100000000000stake' }],
  })
})
afterAll(async () => {
  await simd.stop()
  tmp.cleanup()
})

const args = (out: string) => [
  ...['vault', 'init', 'cosmos', '--rpc', simd.rpcUrl, '--chain', CHAIN, '--prefix', 'cosmos'],
  ...['--members', members.map((m) => m.pubkey).join(','), '--threshold', '2', '--out', at(out)],
  ...['--fee-reserve', '5000000stake', '--gas-price', '0.025stake', '--key-file', payer.path],
]

describe('qantara vault init cosmos', () => {
  it("derives the quorum's multisig vault, funds its fee reserve once, and writes a record relayer configs point at", async () => {
    const run = await runCli(args('cosmos.json'))
    expect(run.code, run.stderr).toBe(0)
    const record = readDeploymentRecord(at('cosmos.json'))!
    const vault = record.config.vault as string
    const client = StargateClient.create(await cometClient({ urls: [simd.rpcUrl], timeoutMs: 5_000 }))
    expect((await client.getBalance(vault, 'stake')).amount).toBe('5000000')
    const payerBalance = (await client.getBalance(payer.address, 'stake')).amount

    const again = await runCli(args('cosmos.json'))
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain('the vault holds 5000000stake for fees')
    expect((await client.getBalance(payer.address, 'stake')).amount).toBe(payerBalance)

    // The relayer config's own check derives the vault from the recorded keys in their recorded order: it must agree.
    writeFileSync(at('id.key'), `0x${'07'.repeat(32)}\n`, { mode: 0o600 })
    const self = members[2]!
    writeFileSync(
      at('relayer.yaml'),
      stringify({
        relayer: { id: 'a', identityKey: { file: './id.key' } },
        store: { path: './a.sqlite' },
        quorum: { threshold: 1, members: [{ id: 'a', identity: IDENTITY, cosmos: self.pubkey }] },
        chains: [
          {
            family: 'cosmos',
            deployment: './cosmos.json',
            rpc: [simd.rpcUrl],
            denoms: [USDC],
            gasPrice: '0.025stake',
            key: { file: self.path },
          },
        ],
      }),
    )
    const { loaded, problems } = inspectConfig(at('relayer.yaml'), {})
    expect(problems).toEqual([])
    const chain = loaded!.config.chains[0]!
    expect(chain.family === 'cosmos' && chain.vault).toBe(vault)
    expect(chain.family === 'cosmos' && chain.multisig.pubkeys).toHaveLength(3)
    client.disconnect()
  })

  it('refuses an RPC of another chain before it sends anything', async () => {
    const run = await runCli(args('wrong.json').map((a) => (a === CHAIN ? 'cosmos:cosmoshub-4' : a)))
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('RPC_WRONG_CHAIN')
  })
})
