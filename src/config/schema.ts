import { z } from 'zod'

/** The parts of the relayer config that do not depend on a chain family. */
export function buildConfigSchema<C extends z.ZodType>(chain: C) {
  return z.strictObject({
    relayer: z
      .strictObject({
        id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 lower-case letters, digits or dashes').describe('this relayer\'s name in logs, metrics and peer messages'),
      })
      .describe('this relayer instance'),
    store: z
      .strictObject({
        path: z.string().min(1).describe('SQLite database file; created with its folder when missing'),
      })
      .describe('where the relayer keeps orders, events and checkpoints'),
    api: z
      .strictObject({
        listen: z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:8080').default('127.0.0.1:8080').describe('address of the HTTP API (/healthz, /metrics, /v1)'),
      })
      .default({ listen: '127.0.0.1:8080' })
      .describe('relayer HTTP API'),
    log: z
      .strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info').describe('pino log level') })
      .default({ level: 'info' })
      .describe('logging'),
    quorum: z
      .strictObject({
        threshold: z.number().int().min(1).describe('signatures needed to release funds'),
        members: z
          .array(z.strictObject({
            id: z.string().min(1).describe('relayer id'),
            evm: z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte address').optional().describe('the relayer\'s EVM signing address'),
          }))
          .min(1)
          .describe('the relayer set, this relayer included'),
      })
      .refine((q) => q.threshold <= q.members.length, { message: 'threshold is larger than the relayer set', path: ['threshold'] })
      .refine((q) => new Set(q.members.map((m) => m.id)).size === q.members.length, { message: 'relayer ids must be unique', path: ['members'] })
      .describe('the relayer set and its threshold'),
    chains: z.array(chain).min(1, 'configure at least one chain').describe('chains this relayer watches and settles on'),
  })
    .refine((c) => c.quorum.members.some((m) => m.id === c.relayer.id), { message: 'this relayer\'s id is not a quorum member', path: ['relayer', 'id'] })
}
