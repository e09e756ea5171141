import { SLOT_REASONS, type SlotStatus } from '../computeSettlement.js'
import { orderEnd } from '../order.js'
import { settlementHash } from '../settlementWire.js'
import { ApiError, parseQuery } from './http.js'
import { HEX32_PATH, type ApiOptions, type ApiRoute } from './route.js'
import {
  errorBody,
  orderDetailSchema,
  ordersPage,
  ordersQuery,
  receiptSchema,
  slotsQuery,
} from './schemas.js'
import { slotDetail } from './slotDetail.js'

const notFound = { description: 'no such order here', schema: errorBody }
const malformed = { description: 'a query out of its bounds', schema: errorBody }

/** Orders: a filtered, paged listing; one order with its slots; the quorum's receipt of its settlement. */
export function orderRoutes(o: ApiOptions): ApiRoute[] {
  const now = o.now ?? Date.now
  const order = async (id: string) => {
    const record = await o.store.getOrder(id.toLowerCase())
    if (!record) throw new ApiError(404, 'UNKNOWN_ORDER', `this relayer holds no order ${id}`)
    return record
  }
  return [
    {
      method: 'GET',
      path: '/v1/orders',
      pattern: /^\/v1\/orders$/,
      tag: 'orders',
      summary: 'Orders by id, filtered by chain, renter, provider and state',
      query: ordersQuery,
      responses: { 200: { description: 'a page of orders', schema: ordersPage }, 400: malformed },
      async handle({ url }) {
        const q = parseQuery(ordersQuery, url)
        const orders = await o.store.listOrdersPage(q.cursor, q.limit, {
          ...(q.chain ? { chain: q.chain } : {}),
          ...(q.renter ? { renter: q.renter } : {}),
          ...(q.provider ? { providerId: q.provider } : {}),
          ...(q.state ? { state: q.state } : {}),
        })
        return {
          status: 200,
          body: { orders, next: orders.length === q.limit ? orders.at(-1)!.terms.id : null },
        }
      },
    },
    {
      method: 'GET',
      path: '/v1/orders/{id}',
      pattern: new RegExp(`^/v1/orders/${HEX32_PATH}$`),
      tag: 'orders',
      summary: "One order: its terms, state, settlement, and each slot's proof, reason and GPU telemetry",
      query: slotsQuery,
      responses: {
        200: { description: 'the order', schema: orderDetailSchema },
        400: malformed,
        404: notFound,
      },
      async handle({ url, params }) {
        const q = parseQuery(slotsQuery, url)
        const record = await order(params[0]!)
        const { terms } = record
        const uptime = record.uptime ?? (await o.relayer.slotStatus(terms))
        const from = Math.min(q.from, terms.slots)
        const range = { from, count: Math.min(q.count, terms.slots - from) }
        const held = uptime !== undefined ? await o.store.listHeartbeats(terms.id, range) : []
        const nowSeconds = BigInt(Math.floor(now() / 1000))
        return {
          status: 200,
          body: {
            ...record,
            ...(uptime !== undefined
              ? {
                  uptime,
                  slotCounts: slotCounts(uptime),
                  slots: { ...range, items: slotDetail(terms, uptime, range, held, nowSeconds) },
                }
              : {}),
            end: orderEnd(terms),
            heartbeats: await o.store.countHeartbeats(terms.id),
            telemetryCompacted: record.compactedAt !== undefined,
          },
        }
      },
    },
    {
      method: 'GET',
      path: '/v1/orders/{id}/receipt',
      pattern: new RegExp(`^/v1/orders/${HEX32_PATH}/receipt$`),
      tag: 'orders',
      summary:
        "The quorum's signatures over an order's settlement, for a system that checks it without a chain node (docs/API.md)",
      responses: {
        200: { description: 'the settlement and the signatures held over it', schema: receiptSchema },
        404: notFound,
        409: { description: 'the order has no settlement yet', schema: errorBody },
      },
      async handle({ params }) {
        const record = await order(params[0]!)
        if (!record.settlement)
          throw new ApiError(
            409,
            'NOT_SETTLED',
            `order ${record.terms.id} is ${record.state}: no settlement yet`,
          )
        const hash = settlementHash(record.settlement)
        const { threshold, statement, signers } = await o.relayer.settlementContext(
          record.terms,
          record.settlement,
        )
        // Only signatures the chain would count now: over this settlement, by a member of its current set.
        const members = signers && new Set(signers.map((m) => m.toLowerCase()))
        const signatures = (await o.store.listSignatures(record.terms.id))
          .filter((s) => s.settlementHash === hash && (!members || members.has(s.signer.toLowerCase())))
          .map(({ relayerId, signer, signature, receivedAt }) => ({
            relayerId,
            signer,
            signature,
            receivedAt,
          }))
        return {
          status: 200,
          body: {
            orderId: record.terms.id,
            chain: record.terms.chain,
            state: record.state,
            settlement: record.settlement,
            settlementHash: hash,
            threshold,
            ...(statement ? { statement } : {}),
            signatures,
            ...(record.txHash ? { txHash: record.txHash } : {}),
          },
        }
      },
    },
  ]
}

/** How many slots are in each state, by reason: what a renter reads first. */
function slotCounts(uptime: string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const c of uptime) {
    const reason = SLOT_REASONS[c as SlotStatus] ?? 'UNKNOWN'
    counts[reason] = (counts[reason] ?? 0) + 1
  }
  return counts
}
