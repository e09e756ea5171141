import { z } from 'zod'
import { safeRequest } from '../http/safeHttp.js'
import { parseJson, type GossipOptions, type Peer } from './peerClient.js'

const providerList = z.object({
  providers: z.array(z.unknown()).max(1_000),
  next: z
    .string()
    .regex(/^0x[0-9a-f]{64}$/)
    .nullable()
    .optional(),
})
/** Pages of a peer's provider list read per pull (1,000 records each). */
const MAX_PROVIDER_PAGES = 20
/** Records new to us taken from one peer per pull. */
const MAX_NEW_RECORDS_PER_PULL = 100

export type SubmitRecord = (record: unknown) => Promise<unknown>
export type KnownRecord = (providerId: string, seq: number) => Promise<boolean>

/**
 * Copies the provider records peers know into our registry. Each goes
 * through `submit`, so it is checked against its own URL here as well:
 * a peer cannot vouch for a record, only point us at it.
 */
export async function pullProviders(
  o: GossipOptions,
  submit: SubmitRecord,
  known: KnownRecord,
  signal?: AbortSignal,
): Promise<number> {
  let added = 0
  for (const peer of o.peers) {
    try {
      added += await pullProvidersFrom(o, peer, submit, known, signal)
    } catch (err) {
      o.logger.debug({ peer: peer.id, err }, 'peer provider list unavailable')
    }
  }
  return added
}

/** Reads a peer's provider list page by page (at most MAX_PROVIDER_PAGES), submitting each record we lack. */
async function pullProvidersFrom(
  o: GossipOptions,
  peer: Peer,
  submit: SubmitRecord,
  known: KnownRecord,
  signal?: AbortSignal,
): Promise<number> {
  let added = 0
  let tried = 0
  let cursor: string | undefined
  for (let page = 0; page < MAX_PROVIDER_PAGES; page++) {
    const res = await safeRequest(o.http, o.httpOptions, {
      method: 'GET',
      url: `${peer.url}/v1/providers?limit=1000${cursor ? `&cursor=${cursor}` : ''}`,
      signal,
    })
    if (res.status !== 200) return added
    const list = providerList.safeParse(parseJson(res.body))
    if (!list.success) {
      o.metrics.peerRejections.inc({ peer: peer.id, reason: 'BAD_PROVIDER_LIST' })
      return added
    }
    for (const signed of list.data.providers) {
      const r = (signed as { record?: { providerId?: unknown; seq?: unknown } }).record
      if (
        typeof r?.providerId !== 'string' ||
        typeof r.seq !== 'number' ||
        (await known(r.providerId, r.seq))
      )
        continue
      // Each record we lack costs a fetch of its provider's URL: a peer gets a bounded number per pull.
      if (++tried > MAX_NEW_RECORDS_PER_PULL) return added
      try {
        await submit(signed)
        added++
      } catch (err) {
        o.metrics.peerRejections.inc({ peer: peer.id, reason: 'PROVIDER_RECORD' })
        o.logger.debug({ peer: peer.id, providerId: r.providerId, err }, 'replicated provider record refused')
      }
    }
    // A cursor that does not move forward would loop us over the same page.
    if (!list.data.next || (cursor !== undefined && list.data.next <= cursor)) return added
    cursor = list.data.next
  }
  return added
}
