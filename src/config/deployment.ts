import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
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

/** The record at `path`, or undefined where there is none yet. */
export function readDeploymentRecord(path: string): DeploymentRecord | undefined {
  let size: number
  try {
    size = statSync(path).size
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new QantaraError('CONFIG_UNREADABLE', `cannot read deployment record ${path}`, {
      details: errorMessage(err),
    })
  }
  if (size > MAX_RECORD_BYTES)
    throw new QantaraError(
      'CONFIG_UNREADABLE',
      `deployment record ${path} is ${size} bytes; the limit is ${MAX_RECORD_BYTES}`,
    )
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
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

/** Replaces the record whole: a crash leaves the old one or the new one, never half of either. */
export function writeDeploymentRecord(path: string, record: DeploymentRecord): void {
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, `${JSON.stringify(deploymentRecordSchema.parse(record), null, 2)}\n`, { mode: 0o644 })
  renameSync(tmp, path)
}

export interface DeploymentProblem {
  path: string
  message: string
}

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const same = (a: unknown, b: unknown) =>
  isObject(a) || Array.isArray(a) ? JSON.stringify(a) === JSON.stringify(b) : String(a) === String(b)

/**
 * Fills each chain entry that names a `deployment` record with the fields the
 * record settled (and those of this relayer's own member entry), before the
 * config is validated. A field the config sets too must agree: two sources
 * that disagree on an escrow address are a mistake to stop at, not to resolve.
 */
export function applyDeployments(
  raw: unknown,
  baseDir: string,
): { raw: unknown; problems: DeploymentProblem[] } {
  const problems: DeploymentProblem[] = []
  if (!isObject(raw) || !Array.isArray(raw.chains)) return { raw, problems }
  const self = selfMember(raw)
  const chains = raw.chains.map((entry: unknown, i) => {
    if (!isObject(entry) || entry.deployment === undefined) return entry
    const { deployment, ...chain } = entry
    const at = `chains.${i}`
    if (typeof deployment !== 'string') {
      problems.push({ path: `${at}.deployment`, message: 'must be the path of a deployment record' })
      return chain
    }
    const path = resolve(baseDir, deployment)
    let record: DeploymentRecord | undefined
    try {
      record = readDeploymentRecord(path)
    } catch (err) {
      problems.push({ path: `${at}.deployment`, message: errorMessage(err) })
      return chain
    }
    if (!record) {
      problems.push({
        path: `${at}.deployment`,
        message: `${path} does not exist: run qantara deploy or qantara vault init first`,
      })
      return chain
    }
    if (chain.family !== record.family || (chain.id !== undefined && chain.id !== record.chain)) {
      problems.push({
        path: `${at}.deployment`,
        message: `${path} is a deployment on ${record.chain} (${record.family}), not on ${String(chain.id ?? chain.family)}`,
      })
      return chain
    }
    const key = self?.[record.family]
    const own = typeof key === 'string' ? record.members[key] : undefined
    if (Object.keys(record.members).length > 0 && !own)
      problems.push({
        path: `${at}.deployment`,
        message: `${path} has nothing for this relayer's ${record.family} key ${typeof key === 'string' ? key : '(none in quorum.members)'}: rerun the command that made it with that key among the members`,
      })
    const merged: Json = { ...chain, id: record.chain }
    for (const [field, value] of Object.entries({ ...record.config, ...own })) {
      if (merged[field] === undefined) merged[field] = value
      else if (!same(merged[field], value))
        problems.push({
          path: `${at}.${field}`,
          message: `is ${JSON.stringify(merged[field])} here but ${JSON.stringify(value)} in ${path}: remove it from the config, the record settles it`,
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
