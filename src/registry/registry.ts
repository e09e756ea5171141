import type { AxiosInstance } from 'axios'
import { canonicalJson } from '../canonicalJson.js'
import { ed25519KeyProblem, ed25519Verify } from '../ed25519.js'
import { QantaraError, errorMessage, isQantaraError } from '../errors.js'
import { safeRequest, type SafeHttpOptions } from '../http/safeHttp.js'
import type { Logger } from '../log.js'
import type { Store } from '../store/store.js'
import { providerRecordBytes, signedProviderRecordSchema, type ProviderRecord, type SignedProviderRecord } from './record.js'

export type RecordRejection = 'MALFORMED' | 'REGISTRY_FULL' | 'BAD_KEY' | 'BAD_SIGNATURE' | 'EXPIRED' | 'STALE_SEQ' | 'ENDPOINT_MISMATCH' | 'ENDPOINT_UNREACHABLE' | 'ENDPOINT_REFUSED'

export function recordRejected(code: RecordRejection, detail: string, cause?: unknown): QantaraError {
  return new QantaraError('RECORD_REJECTED', `provider record rejected: ${code}`, { details: `${code}: ${detail}`, cause, metaMessages: [detail] })
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
  http: AxiosInstance
  httpOptions: SafeHttpOptions
  logger: Logger
  nowSeconds?: () => number
  /** Live records kept at most; a new provider beyond it is refused until one expires. */
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

  constructor(private readonly o: RegistryOptions) {
    this.now = o.nowSeconds ?? (() => Math.floor(Date.now() / 1000))
  }

  /** Validates and stores a submitted record; throws RECORD_REJECTED with its code in `details`. */
  async submit(input: unknown, signal?: AbortSignal): Promise<ProviderRecord> {
    const signed = checkSigned(input, this.now())
    const stored = await this.o.store.getProvider(signed.record.providerId)
    if (stored && stored.seq >= signed.record.seq) throw recordRejected('STALE_SEQ', `seq ${signed.record.seq} is not newer than ${stored.seq}`)
    if (!stored && (await this.o.store.listProviders()).length >= (this.o.maxProviders ?? MAX_PROVIDERS) && (await this.pruneExpired()) === 0) {
      throw recordRejected('REGISTRY_FULL', `this relayer holds ${this.o.maxProviders ?? MAX_PROVIDERS} live provider records`)
    }

    const url = `${signed.record.url.replace(/\/+$/, '')}/v1/provider`
    let served: SignedProviderRecord
    try {
      const res = await safeRequest(this.o.http, this.o.httpOptions, { method: 'GET', url, signal })
      if (res.status !== 200) throw recordRejected('ENDPOINT_UNREACHABLE', `${url} answered ${res.status}`)
      served = checkSigned(JSON.parse(res.body), this.now())
    } catch (err) {
      if (isQantaraError(err, 'RECORD_REJECTED')) throw err
      if (isQantaraError(err, 'ENDPOINT_REFUSED')) throw recordRejected('ENDPOINT_REFUSED', errorMessage(err), err)
      if (err instanceof SyntaxError) throw recordRejected('ENDPOINT_MISMATCH', `${url} does not serve a provider record`)
      throw recordRejected('ENDPOINT_UNREACHABLE', errorMessage(err), err)
    }
    if (canonicalJson(served) !== canonicalJson(signed)) {
      throw recordRejected('ENDPOINT_MISMATCH', served.record.providerId !== signed.record.providerId ? `${url} serves provider ${served.record.providerId}` : `${url} serves seq ${served.record.seq}`)
    }
    const accepted = await this.o.store.putProvider(signed.record.providerId, signed.record.seq, canonicalJson(signed), Date.now())
    if (!accepted) throw recordRejected('STALE_SEQ', 'a newer record arrived meanwhile')
    this.cache.delete(signed.record.providerId)
    this.o.logger.info({ providerId: signed.record.providerId, seq: signed.record.seq, url: signed.record.url }, 'provider record accepted')
    return signed.record
  }

  /** Drops every expired record; returns how many. A record lives until its own `expiresAt`, and its provider re-announces it before then. */
  async pruneExpired(): Promise<number> {
    const now = this.now()
    let pruned = 0
    for (const p of await this.o.store.listProviders()) {
      if ((JSON.parse(p.body) as SignedProviderRecord).record.expiresAt > now) continue
      await this.o.store.deleteProvider(p.providerId)
      this.cache.delete(p.providerId)
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
    return all.filter(({ record: r }) => {
      if (r.expiresAt <= this.now()) return false
      if (filter.gpu && !r.gpus.some((g) => g.name.toLowerCase().includes(filter.gpu!.toLowerCase()))) return false
      if (filter.minVramMiB !== undefined && !r.gpus.some((g) => (g.memoryTotalMiB ?? 0) >= filter.minVramMiB!)) return false
      const prices = r.prices.filter((p) => (!filter.chain || p.chain === filter.chain) && (!filter.token || p.token.toLowerCase() === filter.token.toLowerCase()))
      if ((filter.chain || filter.token || filter.maxPricePerSlot !== undefined) && prices.length === 0) return false
      if (filter.maxPricePerSlot !== undefined && !prices.some((p) => BigInt(p.perSlot) <= filter.maxPricePerSlot!)) return false
      return true
    })
  }
}

/** A signed provider record, checked on its own: schema, key, signature and expiry (not its endpoint). */
export function checkSigned(input: unknown, now: number): SignedProviderRecord {
  const parsed = signedProviderRecordSchema.safeParse(input)
  if (!parsed.success) throw recordRejected('MALFORMED', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ').slice(0, 300))
  const { record, signature } = parsed.data
  // Nobody holds a small-order or non-canonical key, and anyone can forge signatures under some of them; the
  // refund orders' provider id (NO_PROVIDER) is such a key, so no record can ever be registered for it.
  const keyProblem = ed25519KeyProblem(record.providerId)
  if (keyProblem) throw recordRejected('BAD_KEY', `providerId is not an ed25519 public key anyone holds (${keyProblem})`)
  if (!ed25519Verify(record.providerId, providerRecordBytes(record), signature)) throw recordRejected('BAD_SIGNATURE', 'not signed by providerId')
  if (record.expiresAt <= now) throw recordRejected('EXPIRED', `expired at ${record.expiresAt}`)
  return parsed.data
}
