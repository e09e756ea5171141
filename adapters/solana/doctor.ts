import { address, lamports, type Address } from '@solana/kit'
import { check, eachRpc, ok, problem, warn } from '../../src/doctor/checks.js'
import type { DoctorCheck, DoctorQuorum } from '../../src/family.js'
import { nonceProblem, vaultProblem } from './accountLayouts.js'
import { relayerNonceAccount, type SolanaChainConfig } from './config.js'
import { RELEASE_COST_LAMPORTS } from './releaseCost.js'
import { solanaRpc, type SolanaRpc } from './rpc.js'
import { solanaVaultAccount } from './vaultAccount.js'

/** The signer should hold enough for 20 releases. */
const FUNDED_LAMPORTS = 20n * RELEASE_COST_LAMPORTS
const SOL = (n: bigint) => `${Number(n) / 1e9} SOL`

/** `qantara doctor` on a Solana chain: its RPCs, the vault's multisig, token account and receipt mint, this relayer's nonce account and SOL. */
export async function solanaDoctor(
  config: SolanaChainConfig,
  signer: Address,
  quorum: DoctorQuorum,
): Promise<DoctorCheck[]> {
  const rpcOf = (url: string) => solanaRpc({ urls: [url], timeoutMs: config.rpcTimeoutMs })
  const { checks, live } = await eachRpc(config.id, config.rpc, async (url) => {
    const rpc = rpcOf(url)
    const [genesis, slot] = await Promise.all([rpc.getGenesisHash().send(), rpc.getSlot().send()])
    return { served: `solana:${genesis.slice(0, 32)}`, head: `slot ${slot}` }
  })
  if (!live) return checks
  const rpc = rpcOf(live)
  const accounts = {
    multisig: address(config.multisig),
    mint: address(config.mint),
    receiptMint: address(config.receiptMint),
    nonceAccount: address(relayerNonceAccount(config)),
  }
  const at = `${config.id} vault ${config.vault}`
  checks.push(
    await check(
      `${config.id} multisig ${config.multisig}`,
      async () => {
        const { m, signers } = await solanaVaultAccount(rpc, accounts).info()
        if (!signers.includes(signer))
          return problem(
            `this relayer's key ${signer} is not a signer (${m} of ${signers.join(', ')})`,
            'use the key the multisig names: a Solana multisig never changes, so a new quorum needs a new vault',
          )
        const configured = quorum.members.flatMap((x) => (x.solana ? [x.solana] : []))
        const unknown = signers.filter((s) => !configured.includes(s))
        if (unknown.length || new Set(signers).size !== signers.length)
          return problem(
            `the multisig also counts ${unknown.length ? unknown.join(', ') : 'a signer twice'}, beyond quorum.members: the vault is not this quorum's alone`,
            'use a vault made for exactly this quorum (`qantara vault init solana`)',
          )
        const missing = configured.filter((c) => !signers.includes(address(c)))
        if (missing.length)
          return problem(
            `quorum.members name ${missing.join(', ')}, which the multisig does not hold: their signatures count for nothing`,
            "make quorum.members the multisig's signers",
          )
        if (m !== quorum.threshold)
          return problem(
            `the multisig needs ${m} signatures; quorum.threshold says ${quorum.threshold}`,
            `set quorum.threshold to ${m}`,
          )
        return ok(`${m} of ${signers.length}, this relayer among them; the receipt mint only it can freeze`)
      },
      'create the vault with `qantara vault init solana` and point the chain at its record',
    ),
  )
  checks.push(
    await check(at, async () => {
      const why = await layoutProblem(rpc, address(config.vault), (d, o) =>
        vaultProblem(d, o, accounts.mint, accounts.multisig),
      )
      return why
        ? problem(`${why}`, "give the multisig's token account of the mint (its record's `vault`)")
        : ok(`the multisig's account of ${config.mint}`)
    }),
  )
  checks.push(
    await check(`${config.id} nonce account ${accounts.nonceAccount}`, async () => {
      const why = await layoutProblem(rpc, accounts.nonceAccount, (d, o) => nonceProblem(d, o, signer))
      return why
        ? problem(
            why,
            "give this relayer's own nonce account: `qantara vault init solana` creates one per member",
          )
        : ok(`a durable nonce under ${signer}`)
    }),
  )
  checks.push(
    await check(`${config.id} SOL of ${signer}`, async () => {
      const { value } = await rpc.getBalance(signer).send()
      if (value < lamports(RELEASE_COST_LAMPORTS))
        return problem(
          `${SOL(value)}: not enough for one release`,
          `send ${signer} at least ${SOL(FUNDED_LAMPORTS)}`,
        )
      if (value < lamports(FUNDED_LAMPORTS))
        return warn(
          `${SOL(value)}: fewer than 20 releases' fees and receipts`,
          `send ${signer} at least ${SOL(FUNDED_LAMPORTS)}`,
        )
      return ok(SOL(value))
    }),
  )
  return checks
}

async function layoutProblem(
  rpc: SolanaRpc,
  at: Address,
  problemOf: (data: Buffer, owner: Address) => string | undefined,
): Promise<string | undefined> {
  const found = (await rpc.getAccountInfo(at, { commitment: 'confirmed', encoding: 'base64' }).send()).value
  return found ? problemOf(Buffer.from(found.data[0], 'base64'), found.owner) : 'does not exist'
}
