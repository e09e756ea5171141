import { readFileSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { z } from 'zod'
import { QantaraError } from '../errors.js'

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/
const MAX_KEY_FILE_BYTES = 64 * 1024
const NO_INLINE_KEYS =
  'private keys are never read from the config file: use { env: NAME }, { file: PATH } or { keystore: PATH, passwordEnv: NAME }'

/**
 * Where a private key comes from. The config file names a source, never the
 * key itself: an environment variable, a raw hex file readable by its owner
 * only, or an Ethereum keystore v3 JSON file with its password.
 */
export const keySourceSchema = z
  .strictObject(
    {
      env: z
        .string()
        .regex(ENV_NAME, 'must be an environment variable name such as QANTARA_EVM_KEY')
        .optional()
        .describe('environment variable holding the 0x-prefixed hex private key'),
      file: z
        .string()
        .min(1)
        .optional()
        .describe(
          'file holding the 0x-prefixed hex private key; must not be readable by group or others (chmod 600)',
        ),
      keystore: z
        .string()
        .min(1)
        .optional()
        .describe('keystore v3 JSON file (Foundry `cast wallet new`, geth)'),
      passwordEnv: z
        .string()
        .regex(ENV_NAME, 'must be an environment variable name')
        .optional()
        .describe('environment variable holding the keystore password'),
      passwordFile: z.string().min(1).optional().describe('file holding the keystore password (chmod 600)'),
    },
    {
      error: (iss) =>
        `${iss.code === 'unrecognized_keys' ? `unknown field ${iss.keys.join(', ')}; ` : ''}${NO_INLINE_KEYS}`,
    },
  )
  .superRefine((k, ctx) => {
    const sources = [k.env, k.file, k.keystore].filter((v) => v !== undefined).length
    if (sources !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of env, file or keystore' })
    if (k.keystore !== undefined && (k.passwordEnv === undefined) === (k.passwordFile === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'a keystore needs exactly one of passwordEnv or passwordFile',
        path: ['passwordEnv'],
      })
    }
    if (k.keystore === undefined && (k.passwordEnv !== undefined || k.passwordFile !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'passwordEnv / passwordFile only apply to a keystore',
        path: ['keystore'],
      })
    }
  })
  .describe("where this chain's relayer key is read from")

export type KeySource = z.infer<typeof keySourceSchema>

export type SecretMaterial =
  { kind: 'hex'; value: string } | { kind: 'keystore'; json: string; password: string }

/** Reads the secret a key source names. Errors name the source, never its contents. */
export function readSecret(source: KeySource, env: NodeJS.ProcessEnv, baseDir: string): SecretMaterial {
  if (source.env !== undefined) return { kind: 'hex', value: fromEnv(source.env, env) }
  if (source.file !== undefined) return { kind: 'hex', value: fromFile(resolve(baseDir, source.file), true) }
  const json = fromFile(resolve(baseDir, source.keystore!), false)
  const password =
    source.passwordEnv !== undefined
      ? fromEnv(source.passwordEnv, env)
      : fromFile(resolve(baseDir, source.passwordFile!), true)
  return { kind: 'keystore', json, password }
}

function fromEnv(name: string, env: NodeJS.ProcessEnv): string {
  const value = env[name]?.trim()
  if (!value)
    throw new QantaraError('KEY_UNAVAILABLE', `environment variable ${name} is not set`, {
      metaMessages: [`Export ${name} before starting, or point the key at a file.`],
    })
  return value
}

function fromFile(path: string, ownerOnly: boolean): string {
  let mode: number
  let size: number
  try {
    ;({ mode, size } = statSync(path))
  } catch (cause) {
    throw new QantaraError('KEY_UNAVAILABLE', `key file ${path} cannot be read`, {
      cause,
      details: (cause as Error).message,
    })
  }
  if (ownerOnly && (mode & 0o077) !== 0) {
    throw new QantaraError(
      'KEY_INSECURE',
      `key file ${path} is readable by group or others (mode ${(mode & 0o777).toString(8)})`,
      { metaMessages: [`Run: chmod 600 ${path}`] },
    )
  }
  if (size > MAX_KEY_FILE_BYTES)
    throw new QantaraError(
      'KEY_UNAVAILABLE',
      `key file ${path} is ${size} bytes; a key file is at most ${MAX_KEY_FILE_BYTES}`,
    )
  return readFileSync(path, 'utf8').trim()
}
