import { getAddressDecoder, type Address } from '@solana/kit'
import { SYSTEM_PROGRAM_ADDRESS } from '@solana-program/system'
import { TOKEN_PROGRAM_ADDRESS, getMultisigSize } from '@solana-program/token'

/** The byte layouts of the vault's accounts, each read into why it is not what a vault needs, or undefined when it is. */
const NONCE_BYTES = 80
const TOKEN_ACCOUNT_BYTES = 165

export function multisigProblem(
  data: Buffer,
  owner: Address,
  plan: { threshold: number; members: Address[] },
): string | undefined {
  if (owner !== TOKEN_PROGRAM_ADDRESS || data.length !== getMultisigSize() || data[2] !== 1)
    return 'is not an initialized SPL Token multisig'
  const signers = Array.from({ length: data[1]! }, (_, i) =>
    getAddressDecoder().decode(data.subarray(3 + 32 * i, 35 + 32 * i)),
  ).sort()
  if (data[0] !== plan.threshold || JSON.stringify(signers) !== JSON.stringify(plan.members))
    return `is ${data[0]} of ${signers.join(', ')}, not the plan's ${plan.threshold} of ${plan.members.join(', ')}`
  return undefined
}

export function vaultProblem(
  data: Buffer,
  owner: Address,
  mint: Address,
  multisig: Address,
): string | undefined {
  const decode = (from: number) => getAddressDecoder().decode(data.subarray(from, from + 32))
  if (owner !== TOKEN_PROGRAM_ADDRESS || data.length !== TOKEN_ACCOUNT_BYTES)
    return 'is not an SPL Token account'
  if (decode(0) !== mint || decode(32) !== multisig) return `is not ${multisig}'s account of ${mint}`
  return undefined
}

/** A nonce account: version u32, state u32 (1 initialized), authority, blockhash, fee calculator. */
export function nonceProblem(data: Buffer, owner: Address, authority: Address): string | undefined {
  if (owner !== SYSTEM_PROGRAM_ADDRESS || data.length !== NONCE_BYTES || data.readUInt32LE(4) !== 1)
    return 'is not an initialized durable nonce account'
  const holder = getAddressDecoder().decode(data.subarray(8, 40))
  return holder === authority ? undefined : `has authority ${holder}, not ${authority}`
}
