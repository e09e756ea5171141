import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { cosmosKeyFromSecret } from '../adapters/cosmos/keys.js'
import { evmAccountFromSecret } from '../adapters/evm/keys.js'
import { decryptKeystore } from '../adapters/evm/keystore.js'
import { solanaKeyFromSecret } from '../adapters/solana/keys.js'
import { ed25519FromText } from '../src/ed25519.js'
import { runCli } from './support/cli.js'
import { tempDir } from './support/tmp.js'

// `qantara keys` as an operator runs it: the built CLI, real files. What it prints is checked against the key files
// read back by the code that signs with them, so a printed public key is the one the relayer will use.
const tmp = tempDir()
afterAll(tmp.cleanup)
const at = (name: string) => join(tmp.dir, name)
const secretOf = (path: string) => readFileSync(path, 'utf8').trim()

async function keysNew(kind: string, file: string, ...extra: string[]) {
  const run = await runCli(['keys', 'new', kind, '--out', at(file), ...extra])
  expect(run.code, run.stderr).toBe(0)
  return {
    ...run,
    printed: parse(run.stdout) as Record<string, Record<string, string>> & { account?: string },
  }
}

describe('qantara keys', () => {
  it('makes a relayer identity key in a 0600 file, prints its public key and never the secret, and never overwrites it', async () => {
    const { stdout, printed } = await keysNew('identity', 'identity.key')
    const secret = secretOf(at('identity.key'))
    expect(statSync(at('identity.key')).mode & 0o777).toBe(0o600)
    expect(printed['quorum.members[]']!.identity).toBe(ed25519FromText(secret).publicKey)
    expect(printed.relayer).toEqual({ identityKey: { file: at('identity.key') } })
    expect(stdout).not.toContain(secret.slice(2))
    const again = await runCli(['keys', 'new', 'identity', '--out', at('identity.key')])
    expect(again.code).toBe(2)
    expect(again.stderr).toContain('is never overwritten')
    expect(secretOf(at('identity.key'))).toBe(secret)
  })

  it("makes the quorum's challenge secret: 32 random bytes a relayer config reads, printed nowhere", async () => {
    const { stdout, printed } = await keysNew('secret', 'challenge.secret')
    const secret = secretOf(at('challenge.secret'))
    expect(secret).toMatch(/^0x[0-9a-f]{64}$/)
    expect(printed).toEqual({ quorum: { challengeSecret: { file: at('challenge.secret') } } })
    expect(stdout).not.toContain(secret.slice(2))
    expect(stdout).toContain('never to a provider')
  })

  it('makes a provider key whose printed providerId is the one its agent signs with', async () => {
    const { printed } = await keysNew('provider', 'provider.key')
    expect(printed.providerId).toBe(ed25519FromText(secretOf(at('provider.key'))).publicKey)
  })

  it('makes EVM, Solana and Cosmos keys whose printed member keys and accounts are what the adapters unlock', async () => {
    const evm = await keysNew('evm', 'evm.key')
    const evmAddress = evmAccountFromSecret({ kind: 'hex', value: secretOf(at('evm.key')) }).address
    expect(evm.printed['quorum.members[]']).toEqual({ evm: evmAddress })
    expect(evm.printed.account).toBe(evmAddress)

    const sol = await keysNew('solana', 'solana.json')
    // A solana-keygen file: 64 bytes, the seed then its public key.
    expect(JSON.parse(secretOf(at('solana.json')))).toHaveLength(64)
    const solAddress = solanaKeyFromSecret({ kind: 'hex', value: secretOf(at('solana.json')) }).address
    expect(sol.printed['quorum.members[]']).toEqual({ solana: solAddress })

    const cosmos = await keysNew('cosmos', 'cosmos.key', '--prefix', 'wasm')
    const key = cosmosKeyFromSecret({ kind: 'hex', value: secretOf(at('cosmos.key')) }, 'wasm')
    expect(cosmos.printed['quorum.members[]']).toEqual({ cosmos: Buffer.from(key.pubkey).toString('base64') })
    expect(cosmos.printed.account).toBe(key.address)

    const shown = await runCli(['keys', 'show', 'solana', '--file', at('solana.json')])
    expect((parse(shown.stdout) as Record<string, unknown>)['quorum.members[]']).toEqual({
      solana: solAddress,
    })
  })

  it('writes an EVM keystore v3 file that decrypts with its password to the printed address, and refuses a keystore of another kind', async () => {
    writeFileSync(at('password'), 'correct horse battery staple\n', { mode: 0o600 })
    const { printed } = await keysNew(
      'evm',
      'evm.keystore.json',
      '--keystore',
      '--password-file',
      at('password'),
    )
    const key = decryptKeystore(secretOf(at('evm.keystore.json')), 'correct horse battery staple')
    expect(printed['quorum.members[]']).toEqual({
      evm: evmAccountFromSecret({ kind: 'hex', value: key }).address,
    })
    expect(printed['chains[]']).toEqual({
      key: { keystore: at('evm.keystore.json'), passwordFile: at('password') },
    })
    // Refused, and no key file left behind: an empty password, a password without a keystore, a bad prefix.
    writeFileSync(at('empty'), '\n', { mode: 0o600 })
    const refusals = await Promise.all([
      runCli(['keys', 'new', 'evm', '--out', at('e1.json'), '--keystore', '--password-file', at('empty')]),
      runCli(['keys', 'new', 'identity', '--out', at('e2.key'), '--password-file', at('password')]),
      runCli(['keys', 'new', 'cosmos', '--out', at('e3.key'), '--prefix', 'BAD PREFIX']),
    ])
    expect(refusals.map((r) => r.code)).toEqual([2, 2, 2])
    expect(refusals[0].stderr).toContain('the password file is empty')
    expect(refusals[1].stderr).toContain('--keystore and --password-file (a 0600 file) go together')
    for (const f of ['e1.json', 'e2.key', 'e3.key']) expect(existsSync(at(f)), f).toBe(false)
    const wrong = await runCli([
      'keys',
      'new',
      'solana',
      '--out',
      at('x.json'),
      '--keystore',
      '--password-file',
      at('password'),
    ])
    expect(wrong.code).toBe(2)
    expect(wrong.stderr).toContain('solana keys are not kept in keystore files')
  })

  it("prints a relayer config's quorum entry from its keys, flags a member that lists another key, and the entry makes the config valid", async () => {
    const identity = await keysNew('identity', 'cfg-identity.key')
    const evm = await keysNew('evm', 'cfg-evm.key')
    const config = (member: Record<string, string>) => ({
      relayer: { id: 'relayer-a', identityKey: { file: at('cfg-identity.key') } },
      store: { path: './a.sqlite' },
      quorum: { threshold: 1, members: [{ id: 'relayer-a', ...member }] },
      chains: [
        {
          family: 'evm',
          id: 'eip155:31337',
          rpc: ['http://127.0.0.1:8545'],
          escrow: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
          confirmations: 2,
          key: { file: at('cfg-evm.key') },
          submitter: { maxFeePerGasWei: '100000000000' },
        },
      ],
    })
    // Before the operator knows its keys: the member lists someone else's.
    writeFileSync(
      at('relayer.yaml'),
      stringify(
        config({
          identity: `0x${'0c'.repeat(32)}`,
          evm: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
        }),
      ),
    )
    const shown = await runCli(['keys', 'show', '--config', at('relayer.yaml')])
    expect(shown.code, shown.stderr).toBe(0)
    const evmAddress = evm.printed['quorum.members[]']!.evm!
    expect(parse(shown.stdout)).toEqual([
      { id: 'relayer-a', identity: identity.printed['quorum.members[]']!.identity, evm: evmAddress },
    ])
    expect(shown.stdout).toContain('lists evm 0x70997970C51812dc3A010C7d01b50e0d17dc79C8: not this key')
    expect(shown.stdout).toContain(`# eip155:31337: fund ${evmAddress}`)
    // The printed entry, pasted in, is what `config validate` wants.
    const [entry] = parse(shown.stdout) as Record<string, string>[]
    writeFileSync(at('relayer-fixed.yaml'), stringify(config(entry!)))
    const valid = await runCli(['config', 'validate', at('relayer-fixed.yaml')])
    expect(valid.stdout).toContain('valid')
    expect(valid.code).toBe(0)
  })
})
