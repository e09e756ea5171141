import { storeConfigSchema } from '../store/open.js'
import { z } from 'zod'
import { ed25519KeyProblem } from '../ed25519.js'
import { webhooksConfigSchema } from '../webhooks/config.js'
import { keySourceSchema } from './keySource.js'
import {
  acceptTestGpuClasses,
  challengeSecret,
  computeChallengeRate,
  sharesChallengeSchedule,
} from './gpuChecks.js'

/** One relayer of the quorum: its identity, and its key on each family's chains it serves. */
export const quorumMemberSchema = z.strictObject({
  id: z.string().min(1).describe('relayer id'),
  identity: z
    .string()
    .regex(/^0x[0-9a-f]{64}$/, 'must be the 32-byte ed25519 public key in lower-case 0x hex')
    .refine(
      (k) => !ed25519KeyProblem(k),
      'is not an ed25519 public key anyone holds (small order or not canonical)',
    )
    .describe("the relayer's ed25519 identity public key"),
  evm: z
    .string()
    .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte address')
    .optional()
    .describe("the relayer's EVM signing address"),
  solana: z
    .string()
    .regex(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/, 'must be a base58 Solana address')
    .optional()
    .describe("the relayer's Solana key: a signer of each Solana vault's multisig"),
  cosmos: z
    .string()
    .regex(/^[A-Za-z0-9+/]{44}$/, 'must be a 33-byte compressed secp256k1 public key in base64')
    .optional()
    .describe("the relayer's Cosmos public key: one of each Cosmos vault's multisig keys"),
  url: z
    .string()
    .regex(/^https?:\/\/[^/\s]+$/, 'must be an http(s) origin without a path')
    .optional()
    .describe("the relayer's API, where peers pull its heartbeats and signatures"),
})

export type QuorumMember = z.infer<typeof quorumMemberSchema>

const quorumSchema = z
  .strictObject({
    threshold: z.number().int().min(1).describe('signatures needed to release funds'),
    members: z.array(quorumMemberSchema).min(1).describe('the relayer set, this relayer included'),
    challengeSecret,
  })
  .refine((q) => q.threshold <= q.members.length, {
    message: 'threshold is larger than the relayer set',
    path: ['threshold'],
  })
  .refine((q) => new Set(q.members.map((m) => m.id)).size === q.members.length, {
    message: 'relayer ids must be unique',
    path: ['members'],
  })
  .describe('the relayer set and its threshold')

/**
 * The parts of the relayer config that do not depend on a chain family.
 * Optional sections use `.prefault({})`: an absent section is parsed as `{}`,
 * so each field's own `.default()` is the one place its default is written.
 */
export function buildConfigSchema<C extends z.ZodType, B extends z.ZodType>(chain: C, bitcoin: B) {
  return z
    .strictObject({
      relayer: z
        .strictObject({
          id: z
            .string()
            .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 lower-case letters, digits or dashes')
            .describe("this relayer's name in logs, metrics and peer messages"),
          identityKey: keySourceSchema.describe(
            "this relayer's ed25519 identity key (32-byte hex seed or PKCS#8 PEM): signs challenges and peer messages",
          ),
        })
        .describe('this relayer instance'),
      store: storeConfigSchema,
      api: apiConfigSchema,
      log: z
        .strictObject({
          level: z
            .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])
            .default('info')
            .describe('pino log level'),
        })
        .prefault({})
        .describe('logging'),
      quorum: quorumSchema,
      settlement: z
        .strictObject({
          feeBps: z
            .number()
            .int()
            .min(0)
            .max(10_000)
            .default(0)
            .describe(
              "relayer fee in basis points of the provider's gross share; the same on every relayer of the quorum",
            ),
          graceSeconds: z
            .number()
            .int()
            .min(0)
            .max(86_400)
            .default(30)
            .describe('wait after an order ends before settling it, so late heartbeats and events arrive'),
          refundAfterSeconds: z
            .number()
            .int()
            .min(1)
            .max(30 * 86_400)
            .default(3_600)
            .describe(
              'a vault deposit that opened no order is refunded to its sender this long after it was seen',
            ),
          acceptTestGpuClasses: acceptTestGpuClasses,
        })
        .prefault({})
        .describe('how orders are settled'),
      prober: z
        .strictObject({
          computeChallengeRate,
          timeoutMs: z
            .number()
            .int()
            .min(100)
            .max(60_000)
            .default(5_000)
            .describe('deadline of one challenge, connection to last byte'),
          maxResponseBytes: z
            .number()
            .int()
            .min(1024)
            .max(1_048_576)
            .default(16_384)
            .describe('largest heartbeat response read'),
          concurrency: z
            .number()
            .int()
            .min(1)
            .max(10_000)
            .default(256)
            .describe('challenges in flight at once'),
          perHostConcurrency: z
            .number()
            .int()
            .min(1)
            .max(1_000)
            .default(8)
            .describe('challenges in flight to one agent host'),
          maxSkewMs: z
            .number()
            .int()
            .min(100)
            .max(600_000)
            .default(30_000)
            .describe("largest accepted difference between the provider's clock and ours"),
          allowPrivateEndpoints: z
            .boolean()
            .default(false)
            .describe('let provider URLs resolve to loopback or private addresses (devnet only)'),
        })
        .prefault({})
        .describe('how provider agents are challenged'),
      gossip: z
        .strictObject({
          intervalMs: z
            .number()
            .int()
            .min(100)
            .max(600_000)
            .default(1_000)
            .describe("how often peers are asked for an order's heartbeats and signatures"),
          windowSeconds: z
            .number()
            .int()
            .min(0)
            .max(3_600)
            .default(10)
            .describe('extra wait after end + grace so every relayer settles from the same heartbeat set'),
          failoverSeconds: z
            .number()
            .int()
            .min(1)
            .max(3_600)
            .default(20)
            .describe(
              'how long each relayer in line waits for the previous submitter before submitting itself',
            ),
          timeoutMs: z
            .number()
            .int()
            .min(100)
            .max(60_000)
            .default(3_000)
            .describe('deadline of one peer request'),
          maxResponseBytes: z
            .number()
            .int()
            .min(1024)
            .max(16_777_216)
            .default(2_097_152)
            .describe('largest peer response read'),
          allowPrivatePeers: z
            .boolean()
            .default(false)
            .describe(
              'let peer URLs resolve to loopback or private addresses (a quorum on a private network); separate from prober.allowPrivateEndpoints, so opening one does not open provider probes to internal hosts',
            ),
        })
        .prefault({})
        .describe('how relayers of the quorum exchange heartbeats and signatures'),
      chains: z
        .array(chain)
        .min(1, 'configure at least one chain')
        .describe('chains this relayer watches and settles on'),
      bitcoin: bitcoin
        .optional()
        .describe(
          'where BTC payouts to providers are watched and proved; needed only for orders paid in BTC',
        ),
      webhooks: webhooksConfigSchema,
    })
    .refine((c) => c.quorum.members.some((m) => m.id === c.relayer.id), {
      message: "this relayer's id is not a quorum member",
      path: ['relayer', 'id'],
    })
    .refine(sharesChallengeSchedule, {
      message:
        'compute challenges in a quorum of several relayers need quorum.challengeSecret, so that every member checks the same slots (docs/PROTOCOL.md §9); or set prober.computeChallengeRate to 0',
      path: ['quorum', 'challengeSecret'],
    })
}

/** The relayer's HTTP API: where it listens, who may read it from a browser, and what the dashboard links to. */
const apiConfigSchema = z
  .strictObject({
    listen: z
      .string()
      .regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:8080')
      .default('127.0.0.1:8080')
      .describe('address of the HTTP API (/healthz, /v1, and /v1/peer for the quorum)'),
    registrations: z
      .strictObject({
        perMinute: z
          .number()
          .positive()
          .max(60_000)
          .default(6)
          .describe(
            'provider registrations (POST /v1/providers) per remote address per minute; each new one costs an outbound fetch and a stored row',
          ),
        burst: z
          .number()
          .int()
          .min(1)
          .max(100_000)
          .default(30)
          .describe('registrations one address may make at once'),
      })
      .prefault({})
      .describe(
        "how fast providers may register; behind a reverse proxy every provider shares the proxy's address",
      ),
    metricsListen: z
      .string()
      .regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:9464')
      .default('127.0.0.1:9464')
      .describe(
        'address of the Prometheus /metrics listener, kept off the public API: it says what the relayer is doing',
      ),
    corsOrigins: z
      .array(z.union([z.literal('*'), z.url({ protocol: /^https?$/ }).transform((u) => new URL(u).origin)]))
      .max(64)
      .default([])
      .describe(
        "origins whose pages may read the read-only API from a browser ('*' for any); none by default. Writes (POST) are never allowed cross-origin",
      ),
    dashboard: z.boolean().default(true).describe('serve the read-only dashboard at /ui/ on this listener'),
    explorers: z
      .record(
        z.string().regex(/^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$/, 'must be a CAIP-2 chain id'),
        z
          .string()
          .regex(/^https:\/\/[^\s]*\{tx\}[^\s]*$/, 'must be an https URL with {tx} where the hash goes'),
      )
      .default({})
      .describe(
        "a block explorer's transaction link per chain, e.g. https://etherscan.io/tx/{tx}, for the dashboard",
      ),
  })
  .prefault({})
  .describe('relayer HTTP API')
