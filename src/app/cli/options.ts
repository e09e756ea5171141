import { InvalidArgumentError, type Command } from 'commander'
import { keySourceSchema, type KeySource } from '../../config/keySource.js'
import { QantaraError } from '../../errors.js'

/** The flags that name a key the way a config's key source does; the secret is never a flag. */
export interface KeySourceOptions {
  keyFile?: string
  keyEnv?: string
  keystore?: string
  passwordFile?: string
  passwordEnv?: string
}

export function keySourceOptions(cmd: Command, what: string): Command {
  return cmd
    .option('--key-file <path>', `${what}: a 0600 file of hex`)
    .option('--key-env <NAME>', `${what}: an environment variable holding it`)
    .option('--keystore <path>', `${what}: an EVM keystore v3 file`)
    .option('--password-file <path>', "the keystore's password, in a 0600 file")
    .option('--password-env <NAME>', "the environment variable holding the keystore's password")
}

export function keySourceOf(o: KeySourceOptions): KeySource {
  const parsed = keySourceSchema.safeParse({
    file: o.keyFile,
    env: o.keyEnv,
    keystore: o.keystore,
    passwordFile: o.passwordFile,
    passwordEnv: o.passwordEnv,
  })
  if (!parsed.success)
    throw new QantaraError(
      'CONFIG_INVALID',
      `the key: ${parsed.error.issues.map((i) => i.message).join('; ')} (--key-file, --key-env or --keystore)`,
    )
  return parsed.data
}

export function positiveInt(text: string): number {
  const n = wholeNumber(text)
  if (n < 1) throw new InvalidArgumentError('must be a whole number of at least 1')
  return n
}

export function wholeNumber(text: string): number {
  if (!/^\d{1,15}$/.test(text)) throw new InvalidArgumentError('must be a whole number')
  return Number(text)
}

export const listOf = (text: string): string[] =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
