import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { createAddressWithSeed, generateKeyPairSigner, lamports, type Address } from '@solana/kit'
import { SYSTEM_PROGRAM_ADDRESS } from '@solana-program/system'
import { TOKEN_PROGRAM_ADDRESS, findAssociatedTokenPda } from '@solana-program/token'
import { solanaKeyFromSecret, solanaKeyPairSigner, solanaKeys } from '../adapters/solana/keys.js'
import { solanaRpc } from '../adapters/solana/rpc.js'
import { solanaVaultAccount } from '../adapters/solana/vaultAccount.js'
import { initSolanaVault } from '../adapters/solana/vaultInit.js'
import { inspectConfig } from '../src/app/loadConfig.js'
import { errorMessage } from '../src/errors.js'
import { readDeploymentRecord, writeDeploymentRecord } from '../src/config/deployment.js'
import { startSolanaVault, type SolanaVaultBed } from '../devkit/chains/solanaVault.js'
import { runCli } from './support/cli.js'
import { tempDir } from './support/tmp.js'

// litesvm behind the dev kit's JSON-RPC server (no validator runs here); the commands reach it over HTTP as they would a node.
const CHAIN = 'solana:litesvm'
// An ed25519 identity whose seed is 32 bytes of 0x07, and its public key.
const IDENTITY = '0xea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c'
const tmp = tempDir()
const at = (name: string) => join(tmp.dir, name)
let bed: SolanaVaultBed

/** A new Solana key in a 0600 file, as `qantara keys new solana` writes one. */
function keyFile(name: string): { path: string; address: Address } {
  const secret = solanaKeys.generate()
  writeFileSync(at(name), `${secret}\n`, { mode: 0o600 })
  return { path: at(name), address: solanaKeyFromSecret({ kind: 'hex', value: secret }).address }
}

let payer: ReturnType<typeof keyFile>
let members: ReturnType<typeof keyFile>[]
beforeAll(async () => {
  payer = keyFile('payer.json')
  members = ['a', 'b', 'c'].map((n) => keyFile(`${n}.json`))
  // The bed's mint is what orders are paid in; its own multisig is not the one under test.
  bed = await startSolanaVault([payer.address], 1)
  bed.rpc.svm.airdrop(payer.address, lamports(10_000_000_000n))
})
afterAll(async () => {
  await bed.stop()
  tmp.cleanup()
})

const accountsOf = (v: {
  multisig: Address
  receiptMint: Address
  nonceAccounts: Record<string, Address>
}) => ({
  multisig: v.multisig,
  receiptMint: v.receiptMint,
  nonceAccount: Object.values(v.nonceAccounts)[0]!,
})
const rpc = () => solanaRpc({ urls: [bed.rpc.url], timeoutMs: 5_000 })
const args = (out: string, name = 'qantara', who = members) => [
  ...['vault', 'init', 'solana', '--rpc', bed.rpc.url, '--chain', CHAIN, '--key-file', payer.path],
  ...['--members', who.map((m) => m.address).join(','), '--threshold', '2', '--mint', bed.mint],
  ...['--out', at(out), '--name', name],
]

describe('qantara vault init solana', () => {
  it("creates a vault the relayers' own reader accepts, writes a record a relayer config points at, and a re-run sends nothing", async () => {
    const run = await runCli(args('sol.json'))
    expect(run.code, run.stderr).toBe(0)
    const record = readDeploymentRecord(at('sol.json'))!
    const c = record.config as Record<string, Address>
    const own = (m: Address) => record.members[m]!.nonceAccount as Address
    // The relayer's reader: the multisig, the mint's decimals, and a receipt mint only the multisig can freeze.
    const account = solanaVaultAccount(rpc(), {
      multisig: c.multisig!,
      mint: c.mint!,
      receiptMint: c.receiptMint!,
      nonceAccount: own(members[0]!.address),
    })
    const info = await account.info()
    expect(info.m).toBe(2)
    expect([...info.signers].sort()).toEqual(members.map((m) => m.address).sort())
    expect(info.decimals).toBe(6)
    for (const m of members)
      expect(await account.nonceOf(own(m.address))).toMatch(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/)
    const vault = (await rpc().getAccountInfo(c.vault!, { encoding: 'base64' }).send()).value
    expect(vault?.owner).toBe(TOKEN_PROGRAM_ADDRESS)

    const sent = bed.rpc.ledger.length
    const again = await runCli(args('sol.json'))
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).not.toContain('creating')
    expect(bed.rpc.ledger.length).toBe(sent)

    // Each relayer's config names the record and gets the vault's accounts and its own nonce account from it.
    writeFileSync(at('id.key'), `0x${'07'.repeat(32)}\n`, { mode: 0o600 })
    const config = (self: ReturnType<typeof keyFile>) => ({
      relayer: { id: 'a', identityKey: { file: './id.key' } },
      store: { path: './a.sqlite' },
      quorum: { threshold: 1, members: [{ id: 'a', identity: IDENTITY, solana: self.address }] },
      chains: [{ family: 'solana', deployment: './sol.json', rpc: [bed.rpc.url], key: { file: self.path } }],
    })
    writeFileSync(at('relayer.yaml'), stringify(config(members[1]!)))
    const { loaded, problems } = inspectConfig(at('relayer.yaml'), {})
    expect(problems).toEqual([])
    const chain = loaded!.config.chains[0]!
    expect(chain.family === 'solana' && chain.nonceAccount).toBe(own(members[1]!.address))
    expect(chain.family === 'solana' && chain.vault).toBe(c.vault)
    // A relayer whose key is no member of the vault is told so.
    writeFileSync(at('stranger.yaml'), stringify(config(keyFile('stranger.json'))))
    expect(inspectConfig(at('stranger.yaml'), {}).problems[0]!.message).toContain(
      'has nothing for this relayer',
    )
  })

  it('refuses, sending nothing, a name whose accounts hold another quorum', async () => {
    const sent = bed.rpc.ledger.length
    const other = await runCli(args('other.json', 'qantara', members.slice(0, 2)))
    expect(other.code).toBe(2)
    expect(other.stderr).toContain('choose another --name')
    expect(bed.rpc.ledger.length).toBe(sent)
  })

  it('finishes after a crash between any two accounts, each created once', async () => {
    const signer = await solanaKeyPairSigner({ kind: 'hex', value: readFileSync(payer.path, 'utf8') })
    const plan = { name: 'crash', members: members.map((m) => m.address), threshold: 2, mint: bed.mint }
    // Accounts: multisig, receipt mint, vault, three nonce accounts. A crash after the k-th is created.
    for (let k = 1; k <= 6; k++) {
      const path = at(`crash-${k}.json`)
      const name = `crash-${k}`
      let created = 0
      const before = bed.rpc.ledger.length
      await initSolanaVault({
        rpc: rpc(),
        chain: CHAIN,
        payer: signer,
        plan: { ...plan, name },
        save: (r) => writeDeploymentRecord(path, r),
        log: () => {
          if (++created === k) throw new Error('crash')
        },
      }).catch(() => undefined)
      expect(bed.rpc.ledger.length - before).toBe(k)
      const vault = await initSolanaVault({
        rpc: rpc(),
        chain: CHAIN,
        payer: signer,
        plan: { ...plan, name },
        record: readDeploymentRecord(path),
        save: (r) => writeDeploymentRecord(path, r),
        log: () => {},
      })
      expect(bed.rpc.ledger.length - before, `crash after ${k}`).toBe(6)
      expect(Object.keys(vault.nonceAccounts)).toHaveLength(3)
    }
  })

  it('makes a vault whose addresses an attacker funded first, and refuses a member twice or another payer', async () => {
    const signer = await solanaKeyPairSigner({ kind: 'hex', value: readFileSync(payer.path, 'utf8') })
    const plan = { name: 'funded', members: members.map((m) => m.address), threshold: 2, mint: bed.mint }
    const seeded = (seed: string, program: Address) =>
      createAddressWithSeed({ baseAddress: payer.address, programAddress: program, seed: `funded:${seed}` })
    // Every address the vault will take, sent a lamport or a fortune before it exists: a create would fail on each.
    const multisig = await seeded('multisig', TOKEN_PROGRAM_ADDRESS)
    const targets = [
      multisig,
      await seeded('receipts', TOKEN_PROGRAM_ADDRESS),
      (
        await findAssociatedTokenPda({ owner: multisig, mint: bed.mint, tokenProgram: TOKEN_PROGRAM_ADDRESS })
      )[0],
      ...(await Promise.all(
        members.map((m) => seeded(`n:${m.address.slice(0, 16)}`, SYSTEM_PROGRAM_ADDRESS)),
      )),
    ]
    for (const [i, t] of targets.entries()) bed.rpc.svm.airdrop(t, lamports(i % 2 ? 1n : 5_000_000_000n))
    const path = at('funded.json')
    const vault = await initSolanaVault({
      rpc: rpc(),
      chain: CHAIN,
      payer: signer,
      plan,
      save: (r) => writeDeploymentRecord(path, r),
      log: () => {},
    })
    expect((await solanaVaultAccount(rpc(), { ...accountsOf(vault), mint: bed.mint }).info()).m).toBe(2)

    const sent = bed.rpc.ledger.length
    const twice = await runCli(args('twice.json', 'twice', [members[0]!, members[0]!, members[1]!]))
    expect(twice.code).toBe(2)
    expect(twice.stderr).toContain('listed twice')
    const stranger = keyFile('stranger-payer.json')
    bed.rpc.svm.airdrop(stranger.address, lamports(10_000_000_000n))
    const otherPayer = await runCli(
      args('funded.json', 'funded').map((a) => (a === payer.path ? stranger.path : a)),
    )
    expect(otherPayer.code).toBe(2)
    expect(otherPayer.stderr).toContain(`paid by ${payer.address}`)
    expect(bed.rpc.ledger.length).toBe(sent)
  })

  it('refuses a multisig the Token program does not own, however exactly its bytes list the quorum', async () => {
    const record = readDeploymentRecord(at('sol.json'))!
    const c = record.config as Record<string, Address>
    const real = bed.rpc.svm.getAccount(c.multisig!)
    if (!real.exists) throw new Error('the vault has no multisig')
    // The same 355 bytes, owned by another program: the Token program would let that program sign as the owner.
    const fake = (await generateKeyPairSigner()).address
    bed.rpc.svm.setAccount({ ...real, address: fake, programAddress: SYSTEM_PROGRAM_ADDRESS })
    const err = await solanaVaultAccount(rpc(), {
      multisig: fake,
      mint: c.mint!,
      receiptMint: c.receiptMint!,
      nonceAccount: c.vault!,
    })
      .info()
      .catch((e: unknown) => e)
    expect(errorMessage(err)).toContain(`${fake} is not an initialized SPL Token multisig`)
  })
})
