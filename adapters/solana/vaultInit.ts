import {
  appendTransactionMessageInstructions,
  createAddressWithSeed,
  createTransactionMessage,
  getBase64EncodedWireTransaction,
  getSignatureFromTransaction,
  pipe,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
  type Address,
  type Instruction,
  type KeyPairSigner,
} from '@solana/kit'
import {
  SYSTEM_PROGRAM_ADDRESS,
  getAllocateWithSeedInstruction,
  getAssignWithSeedInstruction,
  getInitializeNonceAccountInstruction,
  getTransferSolInstruction,
} from '@solana-program/system'
import {
  TOKEN_PROGRAM_ADDRESS,
  findAssociatedTokenPda,
  getCreateAssociatedTokenIdempotentInstructionAsync,
  getInitializeMint2Instruction,
  getInitializeMultisig2Instruction,
  getMintSize,
  getMultisigSize,
} from '@solana-program/token'
import { abortableDelay } from '../../src/abort.js'
import { DEPLOYMENT_FORMAT, type DeploymentRecord, type DeploymentRun } from '../../src/config/deployment.js'
import { QantaraError } from '../../src/errors.js'
import type { SolanaRpc } from './rpc.js'
import { receiptMintProblem } from './vaultAccount.js'
import { multisigProblem, nonceProblem, vaultProblem } from './accountLayouts.js'

const NONCE_BYTES = 80

/** A Solana vault for a quorum: their m-of-n SPL Token multisig over a token account of `mint`, a receipt mint, a durable nonce each. */
export interface SolanaVaultPlan {
  /** Names this vault among the payer's: every account is created at an address derived from the payer, this name and its role. */
  name: string
  members: Address[]
  threshold: number
  mint: Address
}

export interface SolanaVaultInitOptions extends DeploymentRun {
  rpc: SolanaRpc
  /** The chain the RPC must serve: solana:<first 32 characters of its genesis hash>. */
  chain: string
  /** Pays for the accounts and their rent; it holds no authority over any of them. */
  payer: KeyPairSigner
  plan: SolanaVaultPlan
  confirmTimeoutMs?: number
}

export interface SolanaVault {
  record: DeploymentRecord
  vault: Address
  multisig: Address
  receiptMint: Address
  nonceAccounts: Record<string, Address>
}

/**
 * Creates, or finds and checks, each account of a vault. Every address is
 * derived from the payer with a seed, so a re-run after a crash at any line
 * finds what the last run created instead of creating it twice, and an
 * account that exists but holds something else is refused, never reused.
 */
export async function initSolanaVault(o: SolanaVaultInitOptions): Promise<SolanaVault> {
  const { rpc, plan, payer } = o
  if (!/^[a-z0-9-]{1,12}$/.test(plan.name))
    throw new QantaraError('CONFIG_INVALID', 'a vault name is 1-12 lower-case letters, digits or dashes')
  const genesis = await rpc.getGenesisHash().send()
  if (`solana:${genesis.slice(0, 32)}` !== o.chain)
    throw new QantaraError('RPC_WRONG_CHAIN', `the RPC serves solana:${genesis.slice(0, 32)}, not ${o.chain}`)
  const planned = { ...plan, members: [...plan.members].sort() }
  planProblem(planned)
  const state = (o.record?.state ?? {}) as { payer?: string; plan?: unknown; startSlot?: number }
  if (o.record && (o.record.chain !== o.chain || JSON.stringify(state.plan) !== JSON.stringify(planned)))
    throw new QantaraError('CONFIG_INVALID', 'the record is of another vault: give another --out')
  // Another payer's seeds are other addresses: a re-run "to check" with it would make a second vault.
  if (o.record && state.payer !== payer.address)
    throw new QantaraError(
      'CONFIG_INVALID',
      `the record's vault was paid by ${state.payer}, not ${payer.address}`,
    )
  const startSlot = state.startSlot ?? Number(await rpc.getSlot({ commitment: 'finalized' }).send())
  const at = (seed: string, program: Address) =>
    createAddressWithSeed({
      baseAddress: payer.address,
      programAddress: program,
      seed: `${plan.name}:${seed}`,
    })
  const multisig = await at('multisig', TOKEN_PROGRAM_ADDRESS)
  const receiptMint = await at('receipts', TOKEN_PROGRAM_ADDRESS)
  const [vault] = await findAssociatedTokenPda({
    owner: multisig,
    mint: plan.mint,
    tokenProgram: TOKEN_PROGRAM_ADDRESS,
  })
  const nonceAccounts: Record<string, Address> = {}
  for (const m of planned.members) nonceAccounts[m] = await at(`n:${m.slice(0, 16)}`, SYSTEM_PROGRAM_ADDRESS)
  const record = (done: boolean): DeploymentRecord => ({
    format: DEPLOYMENT_FORMAT,
    family: 'solana',
    chain: o.chain,
    config: done ? { vault, mint: plan.mint, multisig, receiptMint, startSlot } : {},
    members: done
      ? Object.fromEntries(planned.members.map((m) => [m, { nonceAccount: nonceAccounts[m] }]))
      : {},
    state: { payer: payer.address, plan: planned, startSlot },
  })
  // A finished record stays as it is until a re-run finishes: relayers read it meanwhile.
  if (!o.record) o.save(record(false))

  const accounts = vaultAccounts(o)
  await accounts.mintCheck(plan.mint)
  await accounts.ensure(
    'multisig',
    multisig,
    (data, owner) => multisigProblem(data, owner, planned),
    async (held) => [
      ...(await accounts.create('multisig', TOKEN_PROGRAM_ADDRESS, getMultisigSize(), held)),
      getInitializeMultisig2Instruction({ multisig, signers: planned.members, m: planned.threshold }),
    ],
  )
  await accounts.ensure(
    'receipt mint',
    receiptMint,
    (data, owner) => receiptMintProblem(owner, data, multisig),
    async (held) => [
      ...(await accounts.create('receipts', TOKEN_PROGRAM_ADDRESS, getMintSize(), held)),
      getInitializeMint2Instruction({
        mint: receiptMint,
        decimals: 0,
        mintAuthority: multisig,
        freezeAuthority: multisig,
      }),
    ],
  )
  await accounts.ensure(
    'vault',
    vault,
    (data, owner) => vaultProblem(data, owner, plan.mint, multisig),
    async () => [
      await getCreateAssociatedTokenIdempotentInstructionAsync({ payer, owner: multisig, mint: plan.mint }),
    ],
  )
  for (const m of planned.members) {
    const nonce = nonceAccounts[m]!
    await accounts.ensure(
      `nonce account of ${m}`,
      nonce,
      (data, owner) => nonceProblem(data, owner, m),
      async (held) => [
        ...(await accounts.create(`n:${m.slice(0, 16)}`, SYSTEM_PROGRAM_ADDRESS, NONCE_BYTES, held)),
        getInitializeNonceAccountInstruction({ nonceAccount: nonce, nonceAuthority: m }),
      ],
    )
  }
  const done = record(true)
  o.save(done)
  return { record: done, vault, multisig, receiptMint, nonceAccounts }
}

/** Reads, creates and checks the vault's accounts, one transaction per account. */
function vaultAccounts(o: SolanaVaultInitOptions) {
  const { rpc, payer } = o
  const read = async (at: Address) => {
    const found = (await rpc.getAccountInfo(at, { commitment: 'confirmed', encoding: 'base64' }).send()).value
    return (
      found && {
        owner: found.owner,
        lamports: BigInt(found.lamports),
        data: Buffer.from(found.data[0], 'base64'),
      }
    )
  }
  const send = async (instructions: Instruction[]) => {
    const { value: lifetime } = await rpc.getLatestBlockhash({ commitment: 'confirmed' }).send()
    const tx = await signTransactionMessageWithSigners(
      pipe(
        createTransactionMessage({ version: 0 }),
        (m) => setTransactionMessageFeePayerSigner(payer, m),
        (m) => setTransactionMessageLifetimeUsingBlockhash(lifetime, m),
        (m) => appendTransactionMessageInstructions(instructions, m),
      ),
    )
    const signature = getSignatureFromTransaction(tx)
    await rpc.sendTransaction(getBase64EncodedWireTransaction(tx), { encoding: 'base64' }).send()
    const deadline = Date.now() + (o.confirmTimeoutMs ?? 90_000)
    for (;;) {
      const [status] = (await rpc.getSignatureStatuses([signature]).send()).value
      if (status?.err)
        throw new QantaraError(
          'SUBMIT_REVERTED',
          `transaction ${signature} failed: ${JSON.stringify(status.err)}`,
          {
            context: { revert: 'MinedRevert' },
          },
        )
      if (status?.confirmationStatus === 'confirmed' || status?.confirmationStatus === 'finalized')
        return signature
      if (Date.now() > deadline)
        throw new QantaraError(
          'SUBMIT_FAILED',
          `transaction ${signature} not confirmed: run the command again`,
          {
            retryable: true,
          },
        )
      await abortableDelay(500)
    }
  }
  return {
    async mintCheck(mint: Address) {
      const found = await read(mint)
      if (!found || found.owner !== TOKEN_PROGRAM_ADDRESS || found.data.length !== 82 || found.data[45] !== 1)
        throw new QantaraError('CONFIG_INVALID', `${mint} is not an SPL Token mint on this chain`)
    },
    /**
     * The account at the seeded address, made with a transfer, an allocate and
     * an assign rather than one create: anyone can send lamports to the
     * address first, which makes a create fail, and would stop the vault.
     */
    async create(seed: string, program: Address, space: number, held: bigint) {
      const rent = await rpc.getMinimumBalanceForRentExemption(BigInt(space)).send()
      const full = `${o.plan.name}:${seed}`
      const account = await createAddressWithSeed({
        baseAddress: payer.address,
        programAddress: program,
        seed: full,
      })
      const base = { baseAccount: payer, base: payer.address, seed: full, programAddress: program }
      return [
        ...(rent > held
          ? [getTransferSolInstruction({ source: payer, destination: account, amount: rent - held })]
          : []),
        getAllocateWithSeedInstruction({ newAccount: account, ...base, space }),
        getAssignWithSeedInstruction({ account, ...base }),
      ]
    },
    /** Creates the account where it is missing; refuses one that holds anything but what the plan wants. */
    async ensure(
      what: string,
      at: Address,
      problem: (data: Buffer, owner: Address) => string | undefined,
      instructions: (held: bigint) => Promise<Instruction[]>,
    ) {
      let found = await read(at)
      // An address someone only sent lamports to holds nothing yet: it is still to be made.
      if (!found || (found.owner === SYSTEM_PROGRAM_ADDRESS && found.data.length === 0)) {
        o.log(`creating the ${what} ${at}: ${await send(await instructions(found?.lamports ?? 0n))}`)
        found = await read(at)
      }
      const why = found ? problem(found.data, found.owner) : 'was not created'
      if (why)
        throw new QantaraError('CONFIG_INVALID', `the ${what} ${at} ${why}: choose another --name`, {
          details: why,
        })
    },
  }
}

/** SPL Token's multisig holds at most 11 signers, and counts a signer listed twice twice: one key could release alone. */
const MAX_SIGNERS = 11

function planProblem(plan: SolanaVaultPlan): void {
  const n = plan.members.length
  if (new Set(plan.members).size !== n)
    throw new QantaraError(
      'CONFIG_INVALID',
      'a member is listed twice: the multisig would count its key twice',
    )
  if (n < 1 || n > MAX_SIGNERS)
    throw new QantaraError(
      'CONFIG_INVALID',
      `an SPL Token multisig has 1 to ${MAX_SIGNERS} signers, not ${n}`,
    )
  if (plan.threshold < 1 || plan.threshold > n)
    throw new QantaraError('CONFIG_INVALID', `threshold ${plan.threshold} of ${n} members`)
}
