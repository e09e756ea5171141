import { getAddressDecoder, type Address } from '@solana/kit'
import { fetchNonce } from '@solana-program/system'
import { TOKEN_PROGRAM_ADDRESS } from '@solana-program/token'
import type { ChainId } from '../../src/caip2.js'
import { QantaraError } from '../../src/errors.js'
import type { Hex32, OrderTerms } from '../../src/order.js'
import type { Store } from '../../src/store/store.js'
import type { ReleaseRound, ReleaseVault } from '../../src/vault/releaseFamily.js'
import { isBtcLeg, type ReleaseLeg } from '../../src/vault/releaseLeg.js'
import { releaseReceipt } from './release.js'
import type { SolanaRpc } from './rpc.js'

/** The vault's SPL multisig (its m and signers) and its mint's decimals. */
export interface VaultInfo {
  m: number
  signers: Address[]
  decimals: number
}

/** The vault's accounts, as configured. */
export interface VaultAccounts {
  multisig: Address
  mint: Address
  receiptMint: Address
  nonceAccount: Address
}

/** A Solana release round: the multisig, and the durable nonce (account and value) the release is pinned to. */
export interface SolanaRound extends ReleaseRound {
  readonly signers: Address[]
  readonly nonceAccount: Address
  readonly nonce: string
}

/** The vault as the release protocol reads it: its multisig, once; whether an order's receipt is frozen; a durable nonce's value. */
export interface SolanaVaultAccount {
  info(): Promise<VaultInfo>
  /**
   * Released means the order's receipt is frozen: only the multisig can freeze
   * it, in the release itself. Never mere existence, which anyone can bring
   * about (security review 2026-12, section 2). The receipt mint is checked
   * first, so a freeze authority other than the multisig can never count.
   */
  released(orderId: Hex32, leg: ReleaseLeg): Promise<boolean>
  nonceOf(nonceAccount: Address): Promise<string>
}

export function solanaVaultAccount(rpc: SolanaRpc, accounts: VaultAccounts): SolanaVaultAccount {
  let info: Promise<VaultInfo> | undefined
  const vaultInfo = () =>
    (info ??= readVault(rpc, accounts).catch((err: unknown) => {
      info = undefined
      throw err
    }))
  return {
    info: vaultInfo,
    async released(orderId, leg) {
      await vaultInfo()
      const kind = isBtcLeg(leg) ? 'btc-share' : 'settlement'
      const receipt = (
        await rpc
          .getAccountInfo(await releaseReceipt(orderId, accounts.receiptMint, kind), {
            commitment: 'confirmed',
            encoding: 'base64',
          })
          .send()
      ).value
      return (
        receipt !== null &&
        receiptFrozen(receipt.owner, Buffer.from(receipt.data[0], 'base64'), accounts.receiptMint)
      )
    },
    nonceOf: async (nonceAccount) =>
      (await fetchNonce(rpc, nonceAccount, { commitment: 'confirmed' })).data.blockhash,
  }
}

/**
 * Where a new release starts: not at all where this relayer's own watcher read the vault pay the order out (a
 * release by code older than frozen receipts, too), or the receipt is frozen; otherwise on its own durable nonce.
 */
export function solanaReleaseVault(o: {
  chain: ChainId
  self: Address
  account: SolanaVaultAccount
  accounts: VaultAccounts
  store: Pick<Store, 'listOrderEvents'>
}): ReleaseVault<SolanaRound> {
  return {
    releasedOnChain: (orderId, leg) => o.account.released(orderId, leg),
    async openRound(order: OrderTerms, leg: ReleaseLeg) {
      const kind = isBtcLeg(leg) ? 'VaultBtcShareReleased' : 'VaultReleased'
      if ((await o.store.listOrderEvents(o.chain, order.id)).some((e) => e.kind === kind)) return 'released'
      const { m, signers } = await o.account.info()
      if (!signers.includes(o.self))
        throw new QantaraError(
          'CONFIG_INVALID',
          `${o.self} is not a signer of multisig ${o.accounts.multisig}`,
        )
      // This relayer pays and advances its own nonce; co-signers never do.
      return {
        threshold: m,
        signers,
        nonceAccount: o.accounts.nonceAccount,
        nonce: await o.account.nonceOf(o.accounts.nonceAccount),
      }
    },
  }
}

/** SPL Token account layout: mint at 0, owner at 32, amount at 64, state at 108 (0 uninitialized, 1 initialized, 2 frozen). */
const TOKEN_ACCOUNT_BYTES = 165
const FROZEN = 2

/** Whether a receipt account, as read, is a token account of the receipt mint in the frozen state. */
function receiptFrozen(program: Address, data: Buffer, receiptMint: Address): boolean {
  return (
    program === TOKEN_PROGRAM_ADDRESS &&
    data.length === TOKEN_ACCOUNT_BYTES &&
    getAddressDecoder().decode(data.subarray(0, 32)) === receiptMint &&
    data[108] === FROZEN
  )
}

/** Why `data`, read at the receipt mint, is not a mint only the multisig can freeze with, or undefined when it is. */
export function receiptMintProblem(program: Address, data: Buffer, multisig: Address): string | undefined {
  // Mint layout: mint authority COption (tag u32 at 0, key at 4), supply u64 at 36, decimals at 44, initialized at 45, freeze authority COption (tag at 46, key at 50).
  if (program !== TOKEN_PROGRAM_ADDRESS || data.length !== 82 || data[45] !== 1)
    return 'is not an initialized SPL Token mint'
  const authority = (at: number) =>
    data.readUInt32LE(at) === 1 ? getAddressDecoder().decode(data.subarray(at + 4, at + 36)) : undefined
  if (authority(46) !== multisig)
    return `has freeze authority ${authority(46) ?? '(none)'}, not the vault's multisig ${multisig}`
  if (![undefined, multisig].includes(authority(0)))
    return `has mint authority ${authority(0)}: give it to the multisig or to no one`
  if (data.readBigUInt64LE(36) !== 0n) return `has a supply of ${data.readBigUInt64LE(36)}, not 0`
  return undefined
}

/**
 * The vault's multisig (its m and signers) and the mint's decimals, read once: an SPL multisig cannot change.
 * The receipt mint is checked here too: a receipt anyone but the multisig could freeze would let them mark orders released.
 */
async function readVault(rpc: SolanaRpc, { multisig, mint, receiptMint }: VaultAccounts): Promise<VaultInfo> {
  const account = async (at: Address) => {
    const found = (await rpc.getAccountInfo(at, { commitment: 'finalized', encoding: 'base64' }).send()).value
    if (!found) throw new QantaraError('CONFIG_INVALID', `account ${at} does not exist`)
    return { program: found.owner, data: Buffer.from(found.data[0], 'base64') }
  }
  // Owned by the Token program, or it is no multisig at all: the Token program lets an owner it does not own sign
  // as one key, which a program of anyone's could do for the vault.
  const found = await account(multisig)
  const multisigData = found.data
  if (found.program !== TOKEN_PROGRAM_ADDRESS || multisigData.length !== 355 || multisigData[2] !== 1)
    throw new QantaraError('CONFIG_INVALID', `${multisig} is not an initialized SPL Token multisig`)
  const signers = Array.from({ length: multisigData[1]! }, (_, i) =>
    getAddressDecoder().decode(multisigData.subarray(3 + 32 * i, 35 + 32 * i)),
  )
  const mintAccount = await account(mint)
  const mintData = mintAccount.data
  if (mintAccount.program !== TOKEN_PROGRAM_ADDRESS || mintData.length !== 82)
    throw new QantaraError('CONFIG_INVALID', `${mint} is not an SPL Token mint`)
  const receipts = await account(receiptMint)
  const problem = receiptMintProblem(receipts.program, receipts.data, multisig)
  if (problem) {
    throw new QantaraError('CONFIG_INVALID', `receiptMint ${receiptMint} ${problem}`, {
      details: problem,
      metaMessages: [
        "Create an SPL Token mint with 0 decimals whose mint and freeze authority are the vault's multisig, and set it as receiptMint.",
      ],
    })
  }
  return { m: multisigData[0]!, signers, decimals: mintData[44]! }
}
