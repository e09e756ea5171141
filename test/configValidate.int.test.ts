import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { configValidate } from '../src/app/cli/configValidate.js'
import { loadConfig, readConfigFile } from '../src/app/loadConfig.js'
import { configSchema } from '../src/app/relayerConfig.js'
import { isQantaraError } from '../src/errors.js'
import { getAddressDecoder } from '@solana/kit'
import { createMultisigThresholdPubkey, pubkeyToAddress } from '@cosmjs/amino'
import { cosmosAddress, cosmosKeyFromSecret } from '../adapters/cosmos/keys.js'
import { runCli } from './support/cli.js'
import { tempDir } from './support/tmp.js'

// Anvil's second dev account: public test data, never a real key.
const DEV_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'
const DEV_ADDRESS = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'
// An ed25519 identity whose seed is 32 bytes of 0x07, and its public key.
const IDENTITY_SEED = `0x${'07'.repeat(32)}`
const IDENTITY = '0xea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c'
const ENV = { TEST_EVM_KEY: DEV_KEY, TEST_IDENTITY: IDENTITY_SEED }

const tmp = tempDir()
afterAll(tmp.cleanup)

interface Doc {
  relayer: { id: string; identityKey: unknown }
  store: { path?: string; postgres?: unknown }
  quorum: { threshold: number; members: { id: string; identity: string; evm?: string }[] }
  chains: {
    family: string
    id: string
    rpc: string[]
    escrow: string
    confirmations: number
    key: unknown
    submitter: { maxFeePerGasWei: unknown }
  }[]
  [extra: string]: unknown
}

function base(): Doc {
  return {
    relayer: { id: 'relayer-a', identityKey: { env: 'TEST_IDENTITY' } },
    store: { path: './a.sqlite' },
    quorum: { threshold: 1, members: [{ id: 'relayer-a', identity: IDENTITY, evm: DEV_ADDRESS }] },
    chains: [
      {
        family: 'evm',
        id: 'eip155:31337',
        rpc: ['http://127.0.0.1:8545'],
        escrow: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
        confirmations: 2,
        key: { env: 'TEST_EVM_KEY' },
        submitter: { maxFeePerGasWei: '100000000000' },
      },
    ],
  }
}

let n = 0
function write(doc: unknown): string {
  const path = join(tmp.dir, `config-${n++}.yaml`)
  writeFileSync(path, typeof doc === 'string' ? doc : stringify(doc))
  return path
}

function validate(doc: unknown, env: NodeJS.ProcessEnv = ENV) {
  const lines: string[] = []
  const code = configValidate(write(doc), env, (l) => lines.push(l))
  return { code, output: lines.join('\n') }
}

function mutate(fn: (c: Doc) => void): Doc {
  const c = base()
  fn(c)
  return c
}

describe('qantara config validate', () => {
  it("warns, without failing, about an EVM chain with no tokens list: any token's settlement would cost the relayer gas", () => {
    const open = mutate((c) => {
      ;(c.chains[0] as { id: string }).id = 'eip155:8453'
    })
    expect(validate(open).output).toContain('warning: eip155:8453 has no `tokens` list')
    expect(validate(open).code).toBe(0)
    const listed = mutate((c) => {
      Object.assign(c.chains[0] as object, { id: 'eip155:8453', tokens: { native: '1000' } })
    })
    expect(validate(listed).output).not.toContain('warning')
  })

  it('accepts a complete config and names the signer it unlocked', () => {
    const { code, output } = validate(base())
    expect(output).toContain(`signer ${DEV_ADDRESS}`)
    expect(code).toBe(0)
  })

  describe('with a Solana vault chain', () => {
    // The Solana key here is the same 0x07… seed as the identity: its address is the identity key in base58.
    const SOL_ADDRESS = getAddressDecoder().decode(Buffer.from(IDENTITY.slice(2), 'hex'))
    const vaultChain = {
      family: 'solana',
      id: 'solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp',
      rpc: ['https://api.mainnet-beta.solana.com'],
      vault: '4T5DUx5oqbraiu49viCGYyJN1dwfyCkGoq4WEK5EXRbL',
      mint: 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v',
      multisig: '9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM',
      receiptMint: 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB',
      nonceAccount: '6Ry5YpjVbV2w8Yz6ZfL8FAFz8Kh4g5H7xq1oUZ2S7Hqd',
      key: { env: 'TEST_SOL_KEY' },
    }
    const withVault = (member: string | undefined) =>
      mutate((c) => {
        if (member) (c.quorum.members[0] as { solana?: string }).solana = member
        c.chains.push({ ...vaultChain } as never)
      })
    it('accepts it and names the Solana signer, from a hex seed or a solana-keygen file', () => {
      expect(validate(withVault(SOL_ADDRESS), { ...ENV, TEST_SOL_KEY: IDENTITY_SEED }).output).toContain(
        `vault ${vaultChain.vault}, signer ${SOL_ADDRESS}`,
      )
      const keygen = JSON.stringify([
        ...Buffer.from(IDENTITY_SEED.slice(2), 'hex'),
        ...Buffer.from(IDENTITY.slice(2), 'hex'),
      ])
      expect(validate(withVault(SOL_ADDRESS), { ...ENV, TEST_SOL_KEY: keygen }).code).toBe(0)
    })
    it("refuses a key that is not the member's Solana address, and a keygen file whose public half is not its own", () => {
      expect(validate(withVault(undefined), { ...ENV, TEST_SOL_KEY: IDENTITY_SEED }).output).toContain(
        "chains.1.key: the key's address",
      )
      const forged = JSON.stringify([...Buffer.from(IDENTITY_SEED.slice(2), 'hex'), ...new Uint8Array(32)])
      expect(validate(withVault(SOL_ADDRESS), { ...ENV, TEST_SOL_KEY: forged }).output).toContain(
        "chains.1.key: the key file's public key does not match its secret",
      )
    })
    it('refuses a relayer without its nonce account, and BTC orders without a Bitcoin source to check their payouts', () => {
      const env = { ...ENV, TEST_SOL_KEY: IDENTITY_SEED }
      const noNonce = withVault(SOL_ADDRESS)
      delete (noNonce.chains[1] as { nonceAccount?: string }).nonceAccount
      expect(validate(noNonce, env).output).toContain('chains.1.nonceAccount: required of a relayer')
      const btc = withVault(SOL_ADDRESS)
      Object.assign(btc.chains[1] as object, { maxPayoutSats: '10000000' })
      expect(validate(btc, env).output).toContain(
        'bitcoin: solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp takes BTC orders (maxPayoutSats above 0): give a bitcoin section',
      )
      btc.bitcoin = { network: 'mainnet', esplora: { url: 'https://blockstream.info/api' } }
      expect(validate(btc, env).code).toBe(0)
    })
  })

  describe('with a Cosmos vault chain', () => {
    // Secp256k1 keys of 32 bytes of 0x07 and of 0x08: the first is this relayer's.
    const pubkey = (byte: string) =>
      Buffer.from(cosmosKeyFromSecret({ kind: 'hex', value: byte.repeat(32) }, 'cosmos').pubkey).toString(
        'base64',
      )
    const [mine, theirs] = [pubkey('07'), pubkey('08')]
    const multisig = createMultisigThresholdPubkey(
      [mine, theirs].map((value) => ({ type: 'tendermint/PubKeySecp256k1', value })),
      1,
    )
    const vault = pubkeyToAddress(multisig, 'cosmos')
    const vaultChain = (over: Record<string, unknown> = {}) => ({
      family: 'cosmos',
      id: 'cosmos:cosmoshub-4',
      rpc: ['https://rpc.cosmos.example'],
      vault,
      denoms: ['ibc/F663521BF1836B00F5F177680F74BFB9A8B5654A694D0D2BC249E03CF2509013'],
      gasPrice: '0.005uatom',
      multisig: { threshold: 1, pubkeys: multisig.value.pubkeys.map((p) => p.value) },
      key: { env: 'TEST_COSMOS_KEY' },
      ...over,
    })
    const withVault = (member: string, over?: Record<string, unknown>) =>
      mutate((c) => {
        ;(c.quorum.members[0] as { cosmos?: string }).cosmos = member
        c.chains.push(vaultChain(over) as never)
      })
    const env = { ...ENV, TEST_COSMOS_KEY: IDENTITY_SEED }
    it('accepts it and names the Cosmos signer', () => {
      const { code, output } = validate(withVault(mine), env)
      expect(output).toContain(
        `vault ${vault}, signer ${cosmosAddress(Buffer.from(mine, 'base64'), 'cosmos')}`,
      )
      expect(code).toBe(0)
    })
    it("refuses a key that is not the member's, keys in another order than the vault's, and fees out of deposits", () => {
      expect(validate(withVault(theirs), env).output).toContain("chains.1.key: the key's public key")
      const reversed = multisig.value.pubkeys.map((p) => p.value).reverse()
      expect(
        validate(withVault(mine, { multisig: { threshold: 1, pubkeys: reversed } }), env).output,
      ).toContain(`chains.1.multisig: these keys in this order with threshold 1 are account`)
      expect(validate(withVault(mine, { gasPrice: '0.1uatom', denoms: ['uatom'] }), env).output).toContain(
        "chains.1.gasPrice: fees in uatom would be paid out of renters' deposits",
      )
      expect(
        validate(withVault(mine, { multisig: { threshold: 1, pubkeys: [mine.slice(0, 40)] } }), env).output,
      ).toContain('must be a 33-byte compressed secp256k1 public key in base64')
      // The vault is 1-of-2; a quorum of two must agree on every settlement.
      const quorumOfTwo = withVault(mine)
      quorumOfTwo.quorum = {
        threshold: 2,
        members: [
          ...quorumOfTwo.quorum.members,
          { id: 'relayer-b', identity: IDENTITY.replace('ea', 'eb'), cosmos: theirs } as never,
        ],
      }
      expect(validate(quorumOfTwo, env).output).toContain(
        "chains.1.multisig.threshold: the vault's multisig needs 1 signatures, fewer than quorum.threshold (2)",
      )
    })
  })

  it('accepts a bitcoin section read from an Esplora server', () => {
    expect(
      validate(
        mutate((c) => (c.bitcoin = { network: 'mainnet', esplora: { url: 'https://esplora.example/api' } })),
      ).code,
    ).toBe(0)
  })

  const broken: [string, Doc | string, string, NodeJS.ProcessEnv?][] = [
    [
      'an unknown chain family',
      mutate((c) => (c.chains[0]!.family = 'tron')),
      'chains.0.family: unknown chain family',
    ],
    [
      'a malformed escrow address',
      mutate((c) => (c.chains[0]!.escrow = '0x1234')),
      'chains.0.escrow: must be a 0x-prefixed 20-byte address',
    ],
    [
      'an address with a bad checksum',
      mutate((c) => (c.chains[0]!.escrow = '0x5FbDB2315678afecb367f032d93F642f64180AA3')),
      'chains.0.escrow: must be a 0x-prefixed 20-byte address with a valid EIP-55 checksum',
    ],
    [
      'an RPC URL that is not http(s)',
      mutate((c) => (c.chains[0]!.rpc = ['http://127.0.0.1:8545', 'ftp://rpc.example'])),
      'chains.0.rpc.1: must be an http(s):// URL',
    ],
    [
      'a WebSocket RPC URL, which nothing would use',
      mutate((c) => (c.chains[0]!.rpc = ['wss://eth.example/v2/key'])),
      'chains.0.rpc.0: must be an http(s):// URL (chains are polled over HTTP',
    ],
    ['no RPC URL at all', mutate((c) => (c.chains[0]!.rpc = [])), 'chains.0.rpc: give at least one RPC URL'],
    [
      'a threshold larger than the relayer set',
      mutate((c) => (c.quorum.threshold = 2)),
      'quorum.threshold: threshold is larger than the relayer set',
    ],
    [
      'a missing key variable',
      base(),
      'chains.0.key: environment variable TEST_EVM_KEY is not set',
      { TEST_IDENTITY: IDENTITY_SEED },
    ],
    [
      "an identity key that is not the quorum member's",
      base(),
      "relayer.identityKey: the key's public key",
      { ...ENV, TEST_IDENTITY: `0x${'08'.repeat(32)}` },
    ],
    [
      'a private key written into the file',
      mutate((c) => (c.chains[0]!.key = DEV_KEY)),
      'chains.0.key: private keys are never read from the config file',
    ],
    [
      'a privateKey field beside the key source',
      mutate((c) => (c.chains[0]!.key = { env: 'TEST_EVM_KEY', privateKey: DEV_KEY })),
      'chains.0.key: unknown field privateKey',
    ],
    [
      'a chain id outside the eip155 namespace',
      mutate((c) => (c.chains[0]!.id = 'cosmos:hub-4')),
      'chains.0.id: must be a CAIP-2 chain id in the eip155 namespace',
    ],
    [
      'a negative confirmation count',
      mutate((c) => (c.chains[0]!.confirmations = -1)),
      'chains.0.confirmations:',
    ],
    ['an unknown top-level field', mutate((c) => (c.relayers = [])), '(root): Unrecognized key: "relayers"'],
    [
      'a relayer that is not in its own quorum',
      mutate((c) => (c.relayer.id = 'relayer-z')),
      "relayer.id: this relayer's id is not a quorum member",
    ],
    [
      'a gas cap written as a float',
      mutate((c) => (c.chains[0]!.submitter.maxFeePerGasWei = 1.5)),
      'chains.0.submitter.maxFeePerGasWei',
    ],
    [
      "a key that is not the quorum member's address",
      mutate((c) => (c.quorum.members[0]!.evm = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC')),
      "chains.0.key: the key's address",
    ],
    ['text that is not YAML', 'chains: [unclosed', '(file): config file'],
    [
      'a bitcoin section with both a node and an Esplora server',
      mutate(
        (c) =>
          (c.bitcoin = {
            network: 'regtest',
            rpc: { url: 'http://127.0.0.1:18334', user: 'u', password: { env: 'P' } },
            esplora: { url: 'http://127.0.0.1:3002' },
          }),
      ),
      'bitcoin: give exactly one of bitcoin.rpc and bitcoin.esplora',
    ],
    [
      'a bitcoin section on testnet',
      mutate((c) => (c.bitcoin = { network: 'testnet', esplora: { url: 'http://127.0.0.1:3002' } })),
      'bitcoin.network:',
    ],
    [
      'a PostgreSQL URL with its password in the file',
      mutate((c) => (c.store = { postgres: { url: 'postgres://q:secret@db:5432/q' } })),
      'store.postgres.url: a password is never read from the config file',
    ],
    [
      'a PostgreSQL password in the URL query',
      mutate((c) => (c.store = { postgres: { url: 'postgres://q@db:5432/q?password=secret' } })),
      'store.postgres.url: a password is never read from the config file',
    ],
    [
      'a store that is both SQLite and PostgreSQL',
      mutate((c) => (c.store = { path: './q.sqlite', postgres: { urlEnv: 'QANTARA_DATABASE_URL' } })),
      'store: give exactly one of path (SQLite) or postgres',
    ],
    [
      'a relayer fee with no one to pay it to',
      mutate((c) => (c.settlement = { feeBps: 100 })),
      'chains.0.feeRecipient: settlement.feeBps is above 0',
    ],
  ]
  for (const [what, doc, expected, env] of broken) {
    it(`refuses ${what}, naming the field`, () => {
      const { code, output } = validate(doc, env)
      expect(code).toBe(1)
      expect(output).toContain(expected)
    })
  }

  it('reports every problem of a config at once', () => {
    const { output } = validate(
      mutate((c) => {
        c.chains[0]!.escrow = 'nope'
        c.chains[0]!.rpc = ['gopher://x']
        c.quorum.threshold = 5
      }),
    )
    expect(output).toMatch(/3 problem\(s\)/)
  })

  it('refuses a key file that group or others can read, and accepts it at 0600', () => {
    const keyFile = join(tmp.dir, 'relayer.key')
    writeFileSync(keyFile, `${DEV_KEY}\n`)
    chmodSync(keyFile, 0o644)
    const doc = mutate((c) => (c.chains[0]!.key = { file: keyFile }))
    expect(validate(doc).output).toContain(
      `chains.0.key: key file ${keyFile} is readable by group or others (mode 644)`,
    )
    chmodSync(keyFile, 0o600)
    expect(validate(doc).code).toBe(0)
  })

  it('lets the environment override the file', () => {
    const loaded = loadConfig(write(base()), {
      ...ENV,
      QANTARA__CHAINS__0__CONFIRMATIONS: '20',
      QANTARA__STORE__PATH: '/var/lib/q.sqlite',
    })
    expect(loaded.identity.publicKey).toBe(IDENTITY)
    expect(loaded.config.chains[0]).toMatchObject({ family: 'evm', confirmations: 20 })
    expect(loaded.config.store.path).toBe('/var/lib/q.sqlite')
    // An address is text, though YAML would read 0x… as a hex integer; a long block number keeps its digits.
    const escrow = '0x00000000000000000000000000000000000000aa'
    const exact = loadConfig(write(base()), {
      ...ENV,
      QANTARA__CHAINS__0__ESCROW: escrow,
      QANTARA__CHAINS__0__STARTBLOCK: '123456789012345678',
    })
    expect(exact.config.chains[0]).toMatchObject({ escrow, startBlock: 123456789012345678n })
    // A field the file leaves to its default is matched by the schema's name for it.
    const metrics = loadConfig(write(base()), { ...ENV, QANTARA__API__METRICSLISTEN: '127.0.0.1:9999' })
    expect(loaded.config.api.metricsListen).toBe('127.0.0.1:9464')
    expect(metrics.config.api.metricsListen).toBe('127.0.0.1:9999')
  })

  it("unlocks only the identity key for a probe worker: a host without the chain's key runs one, not a relayer", () => {
    const path = write(base())
    const noChainKey = { TEST_IDENTITY: IDENTITY_SEED }
    const worker = loadConfig(path, noChainKey, 'identity')
    expect(worker.identity.publicKey).toBe(IDENTITY)
    expect(worker.signers).toEqual([])
    expect(() => loadConfig(path, noChainKey)).toThrow(/config .* has 1 problem/)
    // The identity key is still checked against the quorum's member.
    expect(() => loadConfig(path, { TEST_IDENTITY: `0x${'08'.repeat(32)}` }, 'identity')).toThrow(/1 problem/)
  })

  it('throws a CONFIG_INVALID error listing the problems from loadConfig', () => {
    try {
      loadConfig(write(mutate((c) => (c.chains[0]!.escrow = 'nope'))), ENV)
      expect.unreachable()
    } catch (err) {
      expect(isQantaraError(err, 'CONFIG_INVALID')).toBe(true)
      expect((err as Error).message).toContain('chains.0.escrow')
    }
  })

  it('refuses compute challenges in a quorum of several that does not share the challenge schedule', () => {
    const several = (c: Doc) =>
      c.quorum.members.push({ id: 'relayer-b', identity: `0x${'8b'.repeat(32)}`, evm: DEV_ADDRESS })
    const unshared = validate(mutate(several))
    expect(unshared.code).toBe(1)
    expect(unshared.output).toContain('quorum.challengeSecret: compute challenges in a quorum of several')
    const off = validate(mutate((c) => (several(c), (c.prober = { computeChallengeRate: 0 }))))
    const shared = validate(
      mutate(
        (c) => (
          several(c),
          ((c.quorum as Record<string, unknown>).challengeSecret = { env: 'TEST_IDENTITY' })
        ),
      ),
    )
    expect([off.code, shared.code]).toEqual([0, 0])
  })

  it('refuses a threshold its members cannot reach: peers without a url give no signatures, and every order would stay settling', () => {
    const peer = (id: string, url?: string) => ({
      id,
      identity: `0x${'8b'.repeat(32)}`,
      evm: DEV_ADDRESS,
      ...(url ? { url } : {}),
    })
    const unreachable = validate(
      mutate((c) => {
        c.quorum.threshold = 2
        c.quorum.members.push(peer('relayer-b'), peer('relayer-c'))
        ;(c.quorum as Record<string, unknown>).challengeSecret = { env: 'TEST_IDENTITY' }
      }),
    )
    expect(unreachable.code).toBe(1)
    expect(unreachable.output).toContain(
      'quorum.members: threshold 2 needs 1 peer signature(s), but 0 member(s) besides relayer-a give a url',
    )
    const reachable = validate(
      mutate((c) => {
        c.quorum.threshold = 2
        c.quorum.members.push(peer('relayer-b', 'https://relayer-b.example.org'), peer('relayer-c'))
        ;(c.quorum as Record<string, unknown>).challengeSecret = { env: 'TEST_IDENTITY' }
      }),
    )
    expect(reachable.output).not.toContain('quorum.members')
    expect(reachable.code).toBe(0)
  })

  it('never prints the key, even when the key is the problem', () => {
    const { output } = validate(mutate((c) => (c.chains[0]!.key = DEV_KEY)))
    expect(output).not.toContain(DEV_KEY.slice(2, 20))
  })

  for (const example of [
    'config/example.yaml',
    'config/quorum/relayer-a.yaml',
    'config/quorum/relayer-b.yaml',
    'config/quorum/relayer-c.yaml',
  ]) {
    it(`keeps the shipped example ${example} valid against the schema`, () => {
      const parsed = configSchema.safeParse(readConfigFile(example))
      expect(parsed.success ? [] : parsed.error.issues).toEqual([])
    })
  }

  it('exits 1 from the real CLI on a broken config', async () => {
    const file = write(mutate((c) => (c.chains[0]!.family = 'tron')))
    const { code: status, stdout } = await runCli(['config', 'validate', file], {
      env: { ...ENV, PATH: process.env.PATH },
    })
    expect(status).toBe(1)
    expect(stdout).toContain('chains.0.family: unknown chain family')
  })
})

describe('qantara config validate: YAML positions, agent and solver configs', () => {
  it('says where a YAML syntax error is: line and column', () => {
    const { code, output } = validate('relayer:\n  id: a\nrelayer:\n  id: b\n')
    expect(code).toBe(1)
    expect(output).toContain('is not valid YAML at line 3, column 1: Map keys must be unique')
  })

  it("validates a provider agent's config offline: its key's provider id, or each problem with its path", () => {
    const agent = {
      key: { env: 'TEST_IDENTITY' },
      listen: '127.0.0.1:7070',
      publicUrl: 'https://gpu-7.example.org',
      payout: { 'eip155:8453': DEV_ADDRESS },
      prices: [
        { chain: 'eip155:8453', token: 'native', gpuClass: 'hopper-h100', perSlot: '1000', slotLength: 60 },
      ],
      relayers: ['https://relayer-a.example.org'],
      relayerKeys: [IDENTITY],
    }
    const good = validate(agent)
    expect(good.output).toContain(`valid agent config — provider ${IDENTITY}`)
    expect(good.code).toBe(0)
    const bad = validate({ ...agent, prices: [{ ...agent.prices[0], gpuClass: 'gtx-1080', perSlot: '1.5' }] })
    expect(bad.code).toBe(1)
    expect(bad.output).toContain('prices.0.gpuClass: must be a GPU class')
    expect(bad.output).toContain('prices.0.perSlot')
    const noKey = validate(agent, {})
    expect(noKey.code).toBe(1)
    expect(noKey.output).toContain('TEST_IDENTITY is not set')
  })

  it("validates a solver's config offline: its Bitcoin wallet and quoting key, or each problem", () => {
    writeFileSync(join(tmp.dir, 'btcd.password'), 'secret\n', { mode: 0o600 })
    const solver = {
      store: { path: './solver.sqlite' },
      bitcoin: {
        network: 'regtest',
        rpc: { url: 'http://127.0.0.1:18334', user: 'u', password: { file: join(tmp.dir, 'btcd.password') } },
      },
      btcKey: { env: 'TEST_WIF' },
      chains: [{ ...base().chains[0] }],
    }
    // A regtest WIF of the private key 1: public test data.
    const env = { ...ENV, TEST_WIF: 'cMahea7zqjxrtgAbB7LSGbcQUr1uX1ojuat9jZodMN87JcbXMTcA' }
    const good = validate(solver, env)
    expect(good.output).toMatch(/valid solver config — pays from bcrt1q\w+ on Bitcoin regtest/)
    expect(good.output).toContain(`eip155:31337: quotes as ${DEV_ADDRESS}`)
    const bad = validate(
      { ...solver, bitcoin: { ...solver.bitcoin, rpc: undefined, esplora: { url: 'https://x.example' } } },
      env,
    )
    expect(bad.code).toBe(1)
    expect(bad.output).toContain('bitcoin.rpc: the solver pays through a node')
  })
})
