import { z } from 'zod'
import type { ApiRoute } from './route.js'
import { NAMED_SCHEMAS } from './schemas.js'

type JsonSchema = Record<string, unknown>

/**
 * The OpenAPI 3.1 document of `routes`, generated from the zod schemas they
 * parse queries with and answer with: each named schema is a component, a
 * route's unnamed one is named after the route.
 */
export function openApiDocument(routes: readonly ApiRoute[], version: string): JsonSchema {
  const registry = z.registry<{ id: string }>()
  const names = new Map<z.ZodType, string>()
  const name = (schema: z.ZodType, fallback: string): string => {
    const known = names.get(schema)
    if (known) return known
    names.set(schema, fallback)
    registry.add(schema, { id: fallback })
    return fallback
  }
  for (const [id, schema] of Object.entries(NAMED_SCHEMAS)) name(schema, id)
  const paths: Record<string, Record<string, unknown>> = {}
  for (const r of routes) {
    const operationId = operationIdOf(r)
    const responses: Record<string, unknown> = {}
    for (const [status, res] of Object.entries(r.responses))
      responses[status] = {
        description: res.description,
        ...(res.schema ? { content: jsonContent(name(res.schema, `${capital(operationId)}${status}`)) } : {}),
      }
    const operation = {
      operationId,
      tags: [r.tag],
      summary: r.summary,
      ...(r.query ? { parameters: queryParameters(r.query) } : {}),
      ...(r.path.includes('{')
        ? { parameters: [...pathParameters(r.path), ...queryParameters(r.query)] }
        : {}),
      ...(r.requestBody
        ? {
            requestBody: {
              required: true,
              content: jsonContent(name(r.requestBody, `${capital(operationId)}Body`)),
            },
          }
        : {}),
      responses,
    }
    ;(paths[r.path] ??= {})[r.method.toLowerCase()] = operation
  }
  const generated = z.toJSONSchema(registry, {
    io: 'output',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  }).schemas
  const schemas: Record<string, JsonSchema> = {}
  for (const [id, s] of Object.entries(generated)) {
    const { $id: _id, $schema: _schema, ...rest } = s as JsonSchema
    schemas[id] = rest
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Qantara relayer API',
      version,
      description:
        "A relayer's read-only view of the market (orders, slots, providers, itself) and provider registration. Errors are `{ error, detail? }` with a stable code; listings page with `limit` and the previous page's `next` as `cursor`.",
    },
    paths,
    components: { schemas },
  }
}

function jsonContent(id: string) {
  return { 'application/json': { schema: { $ref: `#/components/schemas/${id}` } } }
}

function queryParameters(query: z.ZodType | undefined): unknown[] {
  if (!query) return []
  const schema = z.toJSONSchema(query, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, JsonSchema>
    required?: string[]
  }
  return Object.entries(schema.properties ?? {}).map(([param, s]) => {
    const { description, ...rest } = s
    return {
      name: param,
      in: 'query',
      required: schema.required?.includes(param) ?? false,
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    }
  })
}

function pathParameters(path: string): unknown[] {
  return [...path.matchAll(/\{(\w+)\}/g)].map(([, param]) => ({
    name: param,
    in: 'path',
    required: true,
    schema: { type: 'string', pattern: '^0x[0-9a-fA-F]{64}$' },
  }))
}

/** `GET /v1/orders/{id}/receipt` → `getOrdersIdReceipt`. */
function operationIdOf(r: ApiRoute): string {
  const parts = r.path
    .split('/')
    .filter((p) => p && p !== 'v1')
    .map((p) => capital(p.replace(/[{}]/g, '')))
  return r.method.toLowerCase() + parts.join('')
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}
