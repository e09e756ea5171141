import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import type { Address } from 'viem'
import { btcLightRelayAbi } from '../adapters/evm/contracts/artifacts/BtcLightRelay.js'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { deployEvm, type EvmDeploymentPlan } from '../adapters/evm/deployment.js'
import { sortAddresses } from '../adapters/evm/eip712.js'
import { doctor } from '../src/app/doctor.js'
import { inspectConfig } from '../src/app/loadConfig.js'
import {
  readDeploymentRecord,
  writeDeploymentRecord,
  type DeploymentRecord,
} from '../src/config/deployment.js'
import { startEvmTestbed, type EvmTestbed } from '../devkit/evmTestbed.js'
import { runCli } from './support/cli.js'
import { tempDir } from './support/tmp.js'

// Bitcoin's regtest genesis header: a real header whose work meets regtest's limit.
const REGTEST_GENESIS =
  '0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4adae5494dffff7f2002000000'
// An ed25519 identity whose seed is 32 bytes of 0x07, and its public key.
const IDENTITY = '0xea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c'

const tmp = tempDir()
let bed: EvmTestbed
beforeAll(async () => {
  bed = await startEvmTestbed()
})
afterAll(async () => {
  await bed.stop()
  tmp.cleanup()
})

const relayers = () => [bed.account(3).address, bed.account(1).address, bed.account(2).address]
const plan = (owner?: Address): EvmDeploymentPlan => ({
  relayers: relayers(),
  threshold: 2,
  maxFeeBps: 500,
  reclaimGrace: 3600n,
  btc: {
    network: 'regtest',
    confirmations: 6,
    genesis: { header: `0x${REGTEST_GENESIS}`, height: 0, proofLength: 6 },
    ...(owner ? { owner } : {}),
  },
})
const nonceOf = (a: Address) => bed.publicClient.getTransactionCount({ address: a })

/** A crash at the k-th durable save: the record is on disk, the line after it never runs. */
class Crash extends Error {}
function crashingAt(k: number, path: string) {
  let saves = 0
  return (r: DeploymentRecord) => {
    writeDeploymentRecord(path, r)
    if (++saves === k) throw new Crash(`crash after save ${k}`)
  }
}

async function expectDeployed(record: DeploymentRecord, owner: Address) {
  const escrow = record.config.escrow as Address
  const [, members, threshold] = await bed.publicClient.readContract({
    address: escrow,
    abi: qantaraEscrowAbi,
    functionName: 'relayerSet',
  })
  expect([...members]).toEqual(sortAddresses(relayers()))
  expect(threshold).toBe(2)
  const relay = await bed.publicClient.readContract({
    address: escrow,
    abi: qantaraEscrowAbi,
    functionName: 'btcRelay',
  })
  expect(relay).toBe(record.state.btcRelay)
  const read = (functionName: 'ready' | 'owner' | 'proofLength') =>
    bed.publicClient.readContract({ address: relay, abi: btcLightRelayAbi, functionName })
  expect(await read('ready')).toBe(true)
  expect(await read('proofLength')).toBe(6n)
  expect(await read('owner')).toBe(owner)
  const receipt = await bed.publicClient.getTransactionReceipt({
    hash: (record.state.escrow as { hash: `0x${string}` }).hash,
  })
  expect(record.config.startBlock).toBe(receipt.blockNumber.toString())
}

describe('qantara deploy evm', () => {
  it('deploys an escrow and its anchored light relay for a quorum, writes a record a relayer config points at, and a re-run sends nothing', async () => {
    const owner = bed.account(9).address
    writeFileSync(
      join(tmp.dir, 'deployer.key'),
      `${'0x'}${'ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'}\n`,
      {
        mode: 0o600,
      },
    )
    const args = [
      ...['deploy', 'evm', '--rpc', bed.anvil.rpcUrl, '--chain', 'eip155:31337'],
      ...[
        '--key-file',
        join(tmp.dir, 'deployer.key'),
        '--relayers',
        relayers().join(','),
        '--threshold',
        '2',
      ],
      ...['--out', join(tmp.dir, 'evm.json'), '--btc-network', 'regtest', '--btc-genesis-height', '0'],
      ...['--btc-genesis-header', REGTEST_GENESIS, '--btc-relay-owner', owner],
    ]
    const first = await runCli(args)
    expect(first.code, first.stderr).toBe(0)
    const record = readDeploymentRecord(join(tmp.dir, 'evm.json'))!
    await expectDeployed(record, owner)
    expect(first.stdout).toContain(`escrow ${String(record.config.escrow)}`)

    const deployer = bed.account(0).address
    const nonce = await nonceOf(deployer)
    const again = await runCli(args)
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).not.toContain('sending')
    expect(await nonceOf(deployer)).toBe(nonce)

    // Another quorum is never continued from this record.
    const other = await runCli(args.map((a) => (a === '2' ? '3' : a)))
    expect(other.code).toBe(2)
    expect(other.stderr).toContain('another deployment')
    expect(await nonceOf(deployer)).toBe(nonce)

    // A relayer config names the record: escrow and startBlock come from it.
    writeFileSync(join(tmp.dir, 'id.key'), `0x${'07'.repeat(32)}\n`)
    chmodSync(join(tmp.dir, 'id.key'), 0o600)
    writeFileSync(
      join(tmp.dir, 'r.key'),
      `${'0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'}\n`,
      {
        mode: 0o600,
      },
    )
    const config = {
      relayer: { id: 'a', identityKey: { file: './id.key' } },
      store: { path: './a.sqlite' },
      quorum: { threshold: 1, members: [{ id: 'a', identity: IDENTITY, evm: bed.account(1).address }] },
      chains: [
        {
          family: 'evm',
          deployment: './evm.json',
          rpc: [bed.anvil.rpcUrl],
          key: { file: './r.key' },
          submitter: { maxFeePerGasWei: '100000000000' },
        },
      ],
    }
    const path = join(tmp.dir, 'relayer.yaml')
    writeFileSync(path, stringify(config))
    const { loaded, problems } = inspectConfig(path, {})
    expect(problems).toEqual([])
    const chain = loaded!.config.chains[0]!
    expect(chain.id).toBe('eip155:31337')
    expect(chain.family === 'evm' && chain.escrow).toBe(record.config.escrow)
    expect(chain.family === 'evm' && chain.startBlock).toBe(BigInt(record.config.startBlock as string))

    // A config that also names another escrow is stopped at, not resolved.
    config.chains[0] = { ...config.chains[0]!, escrow: owner } as (typeof config.chains)[0]
    writeFileSync(path, stringify(config))
    const clash = inspectConfig(path, {})
    expect(clash.loaded).toBeUndefined()
    expect(clash.problems).toHaveLength(1)
    expect(clash.problems[0]!.path).toBe('chains.0.escrow')
    expect(clash.problems[0]!.message).toContain('remove it from the config')
    expect(clash.problems[0]!.message).not.toContain(owner)

    // A record is a file operators pass around: one that sets anything but the deployment's own fields is refused
    // whole, whether for every relayer or for one member's entry.
    delete (config.chains[0] as { escrow?: string }).escrow
    writeFileSync(path, stringify(config))
    const honest = readDeploymentRecord(join(tmp.dir, 'evm.json'))!
    for (const tampered of [
      { ...honest, config: { ...honest.config, feeRecipient: owner, confirmations: 0 } },
      { ...honest, members: { [bed.account(1).address]: { escrow: owner } } },
    ]) {
      writeDeploymentRecord(join(tmp.dir, 'evm.json'), tampered)
      const refused = inspectConfig(path, {})
      expect(refused.loaded).toBeUndefined()
      expect(refused.problems[0]!.message).toContain('which a deployment record never sets')
    }
    writeDeploymentRecord(join(tmp.dir, 'evm.json'), honest)
    expect(inspectConfig(path, {}).problems).toEqual([])

    // The doctor follows the record's transactions to the escrow's and the relay's creation, and reads the relay.
    const lines: string[] = []
    await doctor(path, {}, (l) => lines.push(l))
    const said = lines.join('\n')
    expect(said).toMatch(
      new RegExp(
        `^ok .* escrow ${String(record.config.escrow)} +QantaraEscrow created by ${bed.account(0).address} in block ${String(record.config.startBlock)}`,
        'm',
      ),
    )
    expect(said).toMatch(
      new RegExp(
        `^ok .* light relay +BtcLightRelay ${String(record.state.btcRelay)} on regtest, anchored, proofLength 6, owner ${owner}`,
        'm',
      ),
    )
  })

  it('finishes, after a crash at any durable step, the one deployment it began: each transaction sent once', async () => {
    const owner = bed.account(8).address
    const wallet = bed.wallet(5)
    const deployer = wallet.account.address
    // Saves of a run without crashes: the first plan, then before and after each of four transactions, and the finished record.
    for (let k = 1; k <= 10; k++) {
      const path = join(tmp.dir, `crash-${k}.json`)
      const start = await nonceOf(deployer)
      const crashed = await deployEvm({
        wallet,
        publicClient: bed.publicClient,
        plan: plan(owner),
        save: crashingAt(k, path),
        log: () => {},
      }).catch((err: unknown) => err)
      expect(crashed, `save ${k}`).toBeInstanceOf(Crash)
      const { record } = await deployEvm({
        wallet,
        publicClient: bed.publicClient,
        plan: plan(owner),
        record: readDeploymentRecord(path),
        save: (r) => writeDeploymentRecord(path, r),
        log: () => {},
      })
      await expectDeployed(record, owner)
      expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(record)
      // Relay, escrow, genesis and ownership: four transactions, whatever the crash.
      expect(await nonceOf(deployer), `save ${k}`).toBe(start + 4)
    }
  })

  it('plans anew when another transaction took a planned nonce before the relay was sent', async () => {
    const wallet = bed.wallet(6)
    const deployer = wallet.account.address
    const path = join(tmp.dir, 'taken.json')
    await deployEvm({
      wallet,
      publicClient: bed.publicClient,
      plan: plan(),
      // The relay is signed and recorded at save 2; the crash comes before it is broadcast.
      save: crashingAt(2, path),
      log: () => {},
    }).catch((err: unknown) => expect(err).toBeInstanceOf(Crash))
    const planned = readDeploymentRecord(path)!.state as { firstNonce: number }
    await bed.publicClient.waitForTransactionReceipt({
      hash: await wallet.sendTransaction({ to: deployer, value: 1n, nonce: planned.firstNonce }),
    })
    const logs: string[] = []
    const { record } = await deployEvm({
      wallet,
      publicClient: bed.publicClient,
      plan: plan(),
      record: readDeploymentRecord(path),
      save: (r) => writeDeploymentRecord(path, r),
      log: (l) => logs.push(l),
    })
    expect(logs.join('\n')).toContain(`nonce ${planned.firstNonce}, planned for the relay, was taken`)
    expect((record.state as { firstNonce: number }).firstNonce).toBe(planned.firstNonce + 1)
    await expectDeployed(record, deployer)
  })
})
