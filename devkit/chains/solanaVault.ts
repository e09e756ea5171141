import {
  address,
  appendTransactionMessageInstructions,
  createTransactionMessage,
  generateKeyPairSigner,
  lamports,
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
  getCreateAccountInstruction,
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
  getMintToInstruction,
  getMultisigSize,
  getTransferCheckedInstruction,
} from '@solana-program/token'
import { MEMO_PROGRAM } from '../../adapters/solana/watcher.js'
import { startLitesvmRpc, type LitesvmRpc } from './litesvmRpc.js'

export const DECIMALS = 6

export interface SolanaVaultBed {
  rpc: LitesvmRpc
  payer: KeyPairSigner
  mint: Address
  /** The SPL Token multisig of the relayers' keys, `threshold` of them. */
  multisig: Address
  /** The multisig's token account renters pay into. */
  vault: Address
  /** The vault's receipt mint: 0 decimals, supply 0, mint and freeze authority the multisig. */
  receiptMint: Address
  /** Sends instructions, signed by the signers they name (the payer pays); returns the signature. */
  send(instructions: Instruction[]): Promise<string>
  /** A funded wallet with a token account holding `amount`. */
  renter(amount: bigint): Promise<{ wallet: KeyPairSigner; tokens: Address }>
  tokenAccount(owner: Address): Promise<Address>
  /** A new SPL Token mint with these authorities (no freeze authority when `freezeAuthority` is left out). */
  createMint(decimals: number, mintAuthority: Address, freezeAuthority?: Address): Promise<Address>
  transferChecked(from: { wallet: KeyPairSigner; tokens: Address }, to: Address, amount: bigint): Instruction
  memo(text: string): Instruction
  lamportsTo(to: Address, amount?: bigint): Instruction
  /** A durable nonce account whose authority is `authority`, for that relayer's releases. */
  nonceAccount(authority: Address): Promise<Address>
  stop(): Promise<void>
}

const NONCE_BYTES = 80

/** A vault on litesvm: a mint, the relayers' m-of-n SPL Token multisig, its token account, and its receipt mint. */
export async function startSolanaVault(relayers: Address[], threshold: number): Promise<SolanaVaultBed> {
  const rpc = await startLitesvmRpc()
  const { svm } = rpc
  const payer = await generateKeyPairSigner()
  svm.airdrop(payer.address, lamports(100_000_000_000n))
  // kit signs with the signers the instructions' accounts carry.
  const send = async (instructions: Instruction[]) => {
    const message = pipe(
      createTransactionMessage({ version: 0 }),
      (m) => setTransactionMessageFeePayerSigner(payer, m),
      (m) =>
        setTransactionMessageLifetimeUsingBlockhash(
          { blockhash: svm.latestBlockhash(), lastValidBlockHeight: 1_000_000n },
          m,
        ),
      (m) => appendTransactionMessageInstructions(instructions, m),
    )
    return rpc.execute(await signTransactionMessageWithSigners(message))
  }
  const rent = (size: number) => lamports(svm.minimumBalanceForRentExemption(BigInt(size)))
  const createMint = async (decimals: number, authority: Address, freezeAuthority?: Address) => {
    const account = await generateKeyPairSigner()
    await send([
      getCreateAccountInstruction({
        payer,
        newAccount: account,
        lamports: rent(getMintSize()),
        space: getMintSize(),
        programAddress: TOKEN_PROGRAM_ADDRESS,
      }),
      getInitializeMint2Instruction({
        mint: account.address,
        decimals,
        mintAuthority: authority,
        freezeAuthority: freezeAuthority ?? null,
      }),
    ])
    return account.address
  }
  const mintAuthority = await generateKeyPairSigner()
  const mint = await createMint(DECIMALS, mintAuthority.address)
  const multisig = await generateKeyPairSigner()
  await send([
    getCreateAccountInstruction({
      payer,
      newAccount: multisig,
      lamports: rent(getMultisigSize()),
      space: getMultisigSize(),
      programAddress: TOKEN_PROGRAM_ADDRESS,
    }),
    getInitializeMultisig2Instruction({ multisig: multisig.address, signers: relayers, m: threshold }),
  ])
  const tokenAccount = async (owner: Address) => {
    const [ata] = await findAssociatedTokenPda({ owner, mint, tokenProgram: TOKEN_PROGRAM_ADDRESS })
    return ata
  }
  const createAta = async (owner: Address) =>
    send([await getCreateAssociatedTokenIdempotentInstructionAsync({ payer, owner, mint })])
  await createAta(multisig.address)
  const vault = await tokenAccount(multisig.address)
  // Only the multisig can freeze a receipt, and no one but it could ever mint one.
  const receiptMint = await createMint(0, multisig.address, multisig.address)
  return {
    rpc,
    payer,
    mint,
    multisig: multisig.address,
    vault,
    receiptMint,
    send,
    tokenAccount,
    createMint,
    async nonceAccount(authority) {
      const account = await generateKeyPairSigner()
      await send([
        getCreateAccountInstruction({
          payer,
          newAccount: account,
          lamports: rent(NONCE_BYTES),
          space: NONCE_BYTES,
          programAddress: SYSTEM_PROGRAM_ADDRESS,
        }),
        getInitializeNonceAccountInstruction({ nonceAccount: account.address, nonceAuthority: authority }),
      ])
      return account.address
    },
    async renter(amount) {
      const wallet = await generateKeyPairSigner()
      svm.airdrop(wallet.address, lamports(1_000_000_000n))
      await createAta(wallet.address)
      const tokens = await tokenAccount(wallet.address)
      await send([getMintToInstruction({ mint, token: tokens, mintAuthority, amount })])
      return { wallet, tokens }
    },
    transferChecked: (from, to, amount) =>
      getTransferCheckedInstruction({
        source: from.tokens,
        mint,
        destination: to,
        authority: from.wallet,
        amount,
        decimals: DECIMALS,
      }),
    memo: (text) => ({ programAddress: address(MEMO_PROGRAM), data: new TextEncoder().encode(text) }),
    lamportsTo: (to, amount = 1n) => getTransferSolInstruction({ source: payer, destination: to, amount }),
    stop: () => rpc.stop(),
  }
}
