import { canonicalJson } from '../canonicalJson.js'
import { ed25519KeyProblem, ed25519Verify } from '../ed25519.js'
import { QantaraError, errorMessage, isQantaraError } from '../errors.js'
import { safeRequest, type SafeHttp, type SafeHttpOptions } from '../http/safeHttp.js'
import type { Logger } from '../log.js'
import type { Store } from '../store/store.js'
import {
  MAX_RECORD_TTL_SECONDS,
  RECORD_CLOCK_SKEW_SECONDS,
  providerRecordBytes,
  signedProviderRecordSchema,
  type ProviderRecord,
  type SignedProviderRecord,
} from './record.js'

export type RecordRejection =
  | 'MALFORMED'
  | 'REGISTRY_FULL'
  | 'BAD_KEY'
  | 'BAD_SIGNATURE'
  | 'EXPIRED'
  | 'EXPIRES_TOO_LATE'
  | 'STALE_SEQ'
  | 'ENDPOINT_MISMATCH'
  | 'ENDPOINT_UNREACHABLE'
  | 'ENDPOINT_REFUSED'

export function recordRejected(code: RecordRejection, detail: string, cause?: unknown): QantaraError {
  return new QantaraError('RECORD_REJECTED', `provider record rejected: ${code}`, {
    context: { reason: code },
    details: detail,
    cause,
  })
}

export interface ProviderFilter {
  gpu?: string
  minVramMiB?: number
  chain?: string
  token?: string
  maxPricePerSlot?: bigint
}

export interface RegistryOptions {
  store: Store
  http: SafeHttp
  httpOptions: SafeHttpOptions
  logger: Logger
  nowSeconds?: () => number
  /** Live records kept at most; beyond it a new provider takes the place of the record expiring soonest if it outlives it, and is refused otherwise. */
  maxProviders?: number
}

const MAX_PROVIDERS = 10_000

/**
 * Provider records, each accepted only after the relayer fetched the same
 * signed record back from the URL it names: proof that whoever holds the key
 * also controls the endpoint the prober will challenge.
 */
export class ProviderRegistry {
  private readonly now: () => number
  /** The prober looks a record up on every challenge; a short cache spares the store. */
  private readonly cache = new Map<string, { record: ProviderRecord | undefined; until: number }>()
  private expiryIndex?: Map<string, number>

  constructor(private readonly o: RegistryOptions) {
    this.now = o.nowSeconds ?? (() => Math.floor(Date.now() / 1000))
  }

  /** Validates and stores a submitted record; throws RECORD_REJECTED with its code in `details`. */
  async submit(input: unknown, signal?: AbortSignal): Promise<ProviderRecord> {
    const signed = checkSigned(input, this.now())
    const stored = await this.o.store.getProvider(signed.record.providerId)
    if (stored && stored.seq >= signed.record.seq)
      throw recordRejected('STALE_SEQ', `seq ${signed.record.seq} is not newer than ${stored.seq}`)
    // Checked before the fetch, so a full registry costs no outbound request, and again after it, when the place is taken.
    if (!stored) await this.placeFor(signed.record)

    const url = `${signed.record.url.replace(/\/+$/, '')}/v1/provider`
    let served: SignedProviderRecord
    try {
      const res = await safeRequest(this.o.http, this.o.httpOptions, { method: 'GET', url, signal })
      if (res.status !== 200) throw recordRejected('ENDPOINT_UNREACHABLE', `${url} answered ${res.status}`)
      served = checkSigned(JSON.parse(res.body), this.now())
    } catch (err) {
      if (isQantaraError(err, 'RECORD_REJECTED')) throw err
      if (isQantaraError(err, 'ENDPOINT_REFUSED'))
        throw recordRejected('ENDPOINT_REFUSED', errorMessage(err), err)
      if (err instanceof SyntaxError)
        throw recordRejected('ENDPOINT_MISMATCH', `${url} does not serve a provider record`)
      throw recordRejected('ENDPOINT_UNREACHABLE', errorMessage(err), err)
    }
    if (canonicalJson(served) !== canonicalJson(signed)) {
      throw recordRejected(
        'ENDPOINT_MISMATCH',
        served.record.providerId !== signed.record.providerId
          ? `${url} serves provider ${served.record.providerId}`
          : `${url} serves seq ${served.record.seq}`,
      )
    }
    const evict = stored ? undefined : await this.placeFor(signed.record)
    if (evict) {
      await this.drop(evict.providerId)
      this.o.logger.warn(
        { providerId: evict.providerId, expiresAt: evict.expiresAt, by: signed.record.providerId },
        'registry full: the record expiring soonest gave way',
      )
    }
    const accepted = await this.o.store.putProvider(
      signed.record.providerId,
      signed.record.seq,
      canonicalJson(signed),
      Date.now(),
    )
    if (!accepted) throw recordRejected('STALE_SEQ', 'a newer record arrived meanwhile')
    const expiries = await this.expiries()
    expiries.set(signed.record.providerId, signed.record.expiresAt)
    this.cache.delete(signed.record.providerId)
    this.o.logger.info(
      { providerId: signed.record.providerId, seq: signed.record.seq, url: signed.record.url },
      'provider record accepted',
    )
    return signed.record
  }

  /**
   * Room for a provider not stored yet: nothing when the registry has room
   * (after dropping expired records); otherwise the record expiring soonest,
   * to give way if `record` outlives it; REGISTRY_FULL when none does.
   *
   * Why this policy: every record must be signed again within
   * MAX_RECORD_TTL_SECONDS to stay, so a registry filled once (a byzantine
   * peer's pulls, a burst of registrations) gives way to any record signed
   * later, and no record is refused for the sake of one that is gone sooner.
   */
  private async placeFor(
    record: ProviderRecord,
  ): Promise<{ providerId: string; expiresAt: number } | undefined> {
    const max = this.o.maxProviders ?? MAX_PROVIDERS
    const expiries = await this.expiries()
    if (expiries.size < max || (await this.pruneExpired()) > 0) return undefined
    let soonest: { providerId: string; expiresAt: number } | undefined
    for (const [providerId, expiresAt] of expiries)
      if (!soonest || expiresAt < soonest.expiresAt) soonest = { providerId, expiresAt }
    if (soonest && record.expiresAt > soonest.expiresAt) return soonest
    throw recordRejected(
      'REGISTRY_FULL',
      `this relayer holds ${max} live provider records, none expiring before ${record.expiresAt}`,
    )
  }

  /**
   * Every stored record's expiry by provider, read from the store once and
   * then kept here (the registry is the store's only writer of provider
   * records), so a full registry weighs a submission without parsing every
   * stored record.
   */
  private async expiries(): Promise<Map<string, number>> {
    if (!this.expiryIndex) {
      const index = new Map<string, number>()
      for (const p of await this.o.store.listProviders())
        index.set(p.providerId, (JSON.parse(p.body) as SignedProviderRecord).record.expiresAt)
      this.expiryIndex ??= index
    }
    return this.expiryIndex
  }

  private async drop(providerId: string): Promise<void> {
    await this.o.store.deleteProvider(providerId)
    this.expiryIndex?.delete(providerId)
    this.cache.delete(providerId)
  }

  /** Drops every expired record; returns how many. A record lives until its own `expiresAt`, and its provider re-announces it before then. */
  async pruneExpired(): Promise<number> {
    const now = this.now()
    let pruned = 0
    for (const [providerId, expiresAt] of await this.expiries()) {
      if (expiresAt > now) continue
      await this.drop(providerId)
      pruned++
    }
    return pruned
  }

  /** Whether a record for `providerId` with at least `seq` is already stored. */
  async known(providerId: string, seq: number): Promise<boolean> {
    const stored = await this.o.store.getProvider(providerId)
    return stored !== undefined && stored.seq >= seq
  }

  async get(providerId: string): Promise<ProviderRecord | undefined> {
    const hit = this.cache.get(providerId)
    const nowMs = Date.now()
    let record: ProviderRecord | undefined
    if (hit && hit.until > nowMs) {
      record = hit.record
    } else {
      const stored = await this.o.store.getProvider(providerId)
      record = stored ? (JSON.parse(stored.body) as SignedProviderRecord).record : undefined
      if (this.cache.size > 10_000) this.cache.clear()
      this.cache.set(providerId, { record, until: nowMs + 5_000 })
    }
    return record && record.expiresAt > this.now() ? record : undefined
  }

  async list(filter: ProviderFilter = {}): Promise<SignedProviderRecord[]> {
    const all = (await this.o.store.listProviders()).map((p) => JSON.parse(p.body) as SignedProviderRecord)
    return all.filter(({ record }) => record.expiresAt > this.now() && providerMatches(record, filter))
  }
}

/**
 * Whether a record offers what `filter` asks for: the registry's listing, and
 * the renter CLI's check that a relayer's listing is what it was asked for.
 */
export function providerMatches(r: ProviderRecord, filter: ProviderFilter): boolean {
  const gpu = filter.gpu?.toLowerCase()
  if (
    gpu &&
    !r.gpus.some((g) => g.name.toLowerCase().includes(gpu)) &&
    !r.prices.some((p) => p.gpuClass === gpu)
  )
    return false
  if (filter.minVramMiB !== undefined && !r.gpus.some((g) => (g.memoryTotalMiB ?? 0) >= filter.minVramMiB!))
    return false
  const prices = r.prices.filter(
    (p) =>
      (!filter.chain || p.chain === filter.chain) &&
      (!filter.token || p.token.toLowerCase() === filter.token.toLowerCase()),
  )
  if ((filter.chain || filter.token || filter.maxPricePerSlot !== undefined) && prices.length === 0)
    return false
  if (
    filter.maxPricePerSlot !== undefined &&
    !prices.some((p) => BigInt(p.perSlot) <= filter.maxPricePerSlot!)
  )
    return false
  return true
}

/** A signed provider record, checked on its own: schema, key, signature and expiry (not its endpoint). */
export function checkSigned(input: unknown, now: number): SignedProviderRecord {
  const parsed = signedProviderRecordSchema.safeParse(input)
  if (!parsed.success)
    throw recordRejected(
      'MALFORMED',
      parsed.error.issues
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .join('; ')
        .slice(0, 300),
    )
  const { record, signature } = parsed.data
  // Nobody holds a small-order or non-canonical key, and anyone can forge signatures under some of them; the
  // refund orders' provider id (NO_PROVIDER) is such a key, so no record can ever be registered for it.
  const keyProblem = ed25519KeyProblem(record.providerId)
  if (keyProblem)
    throw recordRejected('BAD_KEY', `providerId is not an ed25519 public key anyone holds (${keyProblem})`)
  if (!ed25519Verify(record.providerId, providerRecordBytes(record), signature))
    throw recordRejected('BAD_SIGNATURE', 'not signed by providerId')
  if (record.expiresAt <= now) throw recordRejected('EXPIRED', `expired at ${record.expiresAt}`)
  // A record holds its place in a registry until it expires: a far expiry would hold it for ever without being signed again.
  if (record.expiresAt > now + MAX_RECORD_TTL_SECONDS + RECORD_CLOCK_SKEW_SECONDS)
    throw recordRejected(
      'EXPIRES_TOO_LATE',
      `expires at ${record.expiresAt}, more than ${MAX_RECORD_TTL_SECONDS} s after ${now}`,
    )
  return parsed.data
}
