import { randomBytes } from 'node:crypto'
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  writeSync,
} from 'node:fs'
import { dirname, resolve } from 'node:path'
import { z } from 'zod'
import { QantaraError, errorMessage } from '../errors.js'

export const DEPLOYMENT_FORMAT = 'qantara-deployment/1'
/** A record names a few addresses and transactions; one signed deployment waiting to be rebroadcast is the largest part. */
const MAX_RECORD_BYTES = 512 * 1024

const fieldName = z.string().regex(/^[a-zA-Z][a-zA-Z0-9]{0,63}$/, 'must be a config field name')

/**
 * What `qantara deploy` and `qantara vault init` leave behind: the chain
 * config fields the deployment settled, shared by every relayer of the
 * quorum, and their own progress, which is how a re-run finds what exists.
 */
export const deploymentRecordSchema = z.strictObject({
  format: z.literal(DEPLOYMENT_FORMAT),
  family: z.string().max(32),
  chain: z.string().max(100),
  /** Fields of the chain's config, the same for every relayer (`escrow`, `startBlock`, a vault's accounts). */
  config: z.record(fieldName, z.unknown()),
  /** Fields only one member's chain config takes, keyed by that member's key on this family (a Solana relayer's nonce account). */
  members: z.record(z.string().max(128), z.record(fieldName, z.unknown())).default({}),
  /** The command's own account of what it created and sent. */
  state: z.record(z.string(), z.unknown()).default({}),
})

export type DeploymentRecord = z.infer<typeof deploymentRecordSchema>

/** The record at `path`, or undefined where there is none yet: a regular file, read through one descriptor, bounded. */
export function readDeploymentRecord(path: string): DeploymentRecord | undefined {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new QantaraError('CONFIG_UNREADABLE', `cannot read deployment record ${path}`, {
      details: errorMessage(err),
    })
  }
  let text: string
  try {
    const stat = fstatSync(fd)
    if (!stat.isFile())
      throw new QantaraError('CONFIG_UNREADABLE', `deployment record ${path} is not a regular file`)
    if (stat.size > MAX_RECORD_BYTES)
      throw new QantaraError(
        'CONFIG_UNREADABLE',
        `deployment record ${path} is ${stat.size} bytes; the limit is ${MAX_RECORD_BYTES}`,
      )
    const bytes = Buffer.alloc(stat.size)
    const read = readSync(fd, bytes, 0, stat.size, 0)
    text = bytes.subarray(0, read).toString('utf8')
  } finally {
    closeSync(fd)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new QantaraError('CONFIG_UNREADABLE', `deployment record ${path} is not JSON`, {
      details: errorMessage(err),
    })
  }
  const parsed = deploymentRecordSchema.safeParse(json)
  if (!parsed.success)
    throw new QantaraError('CONFIG_INVALID', `${path} is not a ${DEPLOYMENT_FORMAT} record`, {
      metaMessages: parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`),
    })
  return parsed.data
}

/**
 * Replaces the record whole and durably: a new file of a random name (never
 * through a link someone planted), synced, renamed over the old, the folder
 * synced. A crash leaves the old record or the new one, never half of either.
 */
export function writeDeploymentRecord(path: string, record: DeploymentRecord): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.${randomBytes(8).toString('hex')}.tmp`
  const fd = openSync(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o644,
  )
  try {
    writeSync(fd, `${JSON.stringify(deploymentRecordSchema.parse(record), null, 2)}\n`)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
  const dir = openSync(dirname(path), constants.O_RDONLY)
  try {
    fsyncSync(dir)
  } finally {
    closeSync(dir)
  }
}

/** What each deploy or vault-init run is given: the record of an earlier run to continue, where each new state goes, and a voice. */
export interface DeploymentRun {
  record?: DeploymentRecord
  /** Called with the record each time it changes; it must be durable when it returns. */
  save(record: DeploymentRecord): void
  log(line: string): void
}

/** A run whose record lives at `path`: read once to continue, written whole at each change. */
export function deploymentRunAt(path: string, log: (line: string) => void): DeploymentRun {
  const record = readDeploymentRecord(path)
  return { ...(record ? { record } : {}), save: (r) => writeDeploymentRecord(path, r), log }
}

export interface DeploymentProblem {
  path: string
  message: string
}

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const same = (a: unknown, b: unknown) =>
  isObject(a) || Array.isArray(a) ? JSON.stringify(a) === JSON.stringify(b) : String(a) === String(b)

/** The fields a family's deployment record may fill (FamilyParts.deploymentFields); undefined for a family that has none. */
export type DeploymentFieldsOf = (
  family: string,
) => { readonly shared: readonly string[]; readonly member: readonly string[] } | undefined

/**
 * Fills each chain entry that names a `deployment` record with the fields the
 * record settled (and those of this relayer's own member entry), before the
 * config is validated. Only the fields its family lets a record fill are
 * taken; a record naming any other is refused whole, since it is a file that
 * passes between operators. A field the config sets too must agree: two
 * sources that disagree on an escrow are a mistake to stop at, not to resolve.
 * Values are never echoed: a field may hold a URL with its API key.
 */
export function applyDeployments(
  raw: unknown,
  baseDir: string,
  fieldsOf: DeploymentFieldsOf,
): { raw: unknown; problems: DeploymentProblem[] } {
  const problems: DeploymentProblem[] = []
  if (!isObject(raw) || !Array.isArray(raw.chains)) return { raw, problems }
  const self = selfMember(raw)
  const chains = raw.chains.map((entry: unknown, i) => {
    if (!isObject(entry) || entry.deployment === undefined) return entry
    const { deployment, ...chain } = entry
    const at = `chains.${i}`
    const fail = (message: string) => {
      problems.push({ path: `${at}.deployment`, message })
      return chain
    }
    if (typeof deployment !== 'string') return fail('must be the path of a deployment record')
    const path = resolve(baseDir, deployment)
    let record: DeploymentRecord | undefined
    try {
      record = readDeploymentRecord(path)
    } catch (err) {
      return fail(errorMessage(err))
    }
    if (!record) return fail(`${path} does not exist: run qantara deploy or qantara vault init first`)
    if (chain.family !== record.family || (chain.id !== undefined && chain.id !== record.chain))
      return fail(
        `${path} is a deployment on ${record.chain} (${record.family}), not on ${String(chain.id ?? chain.family)}`,
      )
    const allowed = fieldsOf(record.family)
    const members = Object.values(record.members)
    const foreign = [
      ...Object.keys(record.config).filter((f) => !allowed?.shared.includes(f)),
      ...members.flatMap((m) => Object.keys(m).filter((f) => !allowed?.member.includes(f))),
    ]
    if (foreign.length)
      return fail(
        `${path} sets ${[...new Set(foreign)].join(', ')}, which a deployment record never sets: it is not to be trusted`,
      )
    const key = self?.[record.family]
    const own =
      typeof key === 'string' && Object.hasOwn(record.members, key) ? record.members[key] : undefined
    if (members.length > 0 && !own)
      return fail(
        `${path} has nothing for this relayer's ${record.family} key ${typeof key === 'string' ? key : '(none in quorum.members)'}: rerun the command that made it with that key among the members`,
      )
    const merged: Json = { ...chain, id: record.chain }
    for (const [field, value] of Object.entries({ ...record.config, ...own })) {
      if (merged[field] === undefined) merged[field] = value
      else if (!same(merged[field], value))
        problems.push({
          path: `${at}.${field}`,
          message: `differs from ${path}: remove it from the config, the record settles it`,
        })
    }
    return merged
  })
  return { raw: { ...raw, chains }, problems }
}

/** This relayer's entry of quorum.members, as the file has it before validation. */
function selfMember(raw: Json): Json | undefined {
  const relayer = isObject(raw.relayer) ? raw.relayer : {}
  const quorum = isObject(raw.quorum) ? raw.quorum : {}
  const members = Array.isArray(quorum.members) ? (quorum.members as unknown[]) : []
  return members.filter(isObject).find((m) => m.id === relayer.id)
}
