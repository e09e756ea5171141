import { z } from 'zod'
import { canonicalJson } from '../canonicalJson.js'
import { parseChainId } from '../caip2.js'

const hex32 = z.string().regex(/^0x[0-9a-f]{64}$/, 'must be 32 bytes of lower-case 0x hex')

/**
 * The furthest ahead of a relayer's clock a record may expire. A registry
 * holds a record until its `expiresAt`, so this bounds how long a record can
 * take a place there without being signed again: records a byzantine peer or
 * registrant stops refreshing are gone within a week.
 */
export const MAX_RECORD_TTL_SECONDS = 7 * 86_400
/** How far an agent's clock may run ahead of a relayer's before a record at the longest TTL is refused as expiring too late. */
export const RECORD_CLOCK_SKEW_SECONDS = 600
/** A Bitcoin output script as orders carry it (`OrderTerms.btc.script`): lower-case hex, no 0x, at most 80 bytes (the vault memo's bound). */
export const btcScriptSchema = z
  .string()
  .regex(
    /^([0-9a-f]{2}){1,80}$/,
    'must be a Bitcoin output script of 1 to 80 bytes in lower-case hex, without 0x',
  )
const caip2 = z.string().refine((v) => {
  try {
    parseChainId(v)
    return true
  } catch {
    return false
  }
}, 'must be a CAIP-2 chain id')

export const gpuOfferSchema = z.strictObject({
  name: z.string().min(1).max(128),
  memoryTotalMiB: z.number().int().nonnegative().nullable(),
  uuid: z.string().max(128),
})

/** What a provider announces: signed by its key, served by its own agent, refreshed with a higher `seq`. */
export const providerRecordSchema = z.strictObject({
  v: z.literal(1),
  providerId: hex32,
  // An origin only: a path, query or fragment would let a record point probes at any page of any host.
  url: z
    .string()
    .max(512)
    .refine(
      (u) => /^https?:\/\/[^/\s?#@]+$/.test(u),
      'must be an http(s) origin, without a path, query, fragment or credentials',
    ),
  gpus: z.array(gpuOfferSchema).max(16),
  payout: z
    .record(caip2, z.string().min(1).max(128))
    .refine((p) => Object.keys(p).length <= 8, 'at most 8 chains'),
  prices: z
    .array(
      z.strictObject({
        chain: caip2,
        token: z.string().min(1).max(128),
        /** The GPU class the price is for (src/gpu/classes.ts); an order of `count` GPUs pays `count` × perSlot. */
        gpuClass: z.string().regex(/^[a-z0-9-]{1,32}$/),
        /** Smallest units of `token` per slot and GPU, as a decimal integer string. */
        perSlot: z.string().regex(/^\d{1,78}$/),
        slotLength: z.number().int().positive().max(86_400),
      }),
    )
    .max(16),
  /** Bitcoin output scripts a solver may pay the provider's share to; an order paying any other is not this provider's. Absent means none. */
  btcScripts: z.array(btcScriptSchema).max(4).optional(),
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  /** Unix seconds after which the record is void; a relayer refuses one more than MAX_RECORD_TTL_SECONDS ahead. */
  expiresAt: z.number().int().positive(),
})

export const signedProviderRecordSchema = z.strictObject({
  record: providerRecordSchema,
  signature: z.string().regex(/^0x[0-9a-f]{128}$/),
})

export type ProviderRecord = z.infer<typeof providerRecordSchema>
export type SignedProviderRecord = z.infer<typeof signedProviderRecordSchema>

export const PROVIDER_RECORD_TAG = 'qantara/provider-record/v1\n'

export function providerRecordBytes(r: ProviderRecord): Buffer {
  return Buffer.from(PROVIDER_RECORD_TAG + canonicalJson(r), 'utf8')
}
