import { z } from 'zod'
import { gpuClassById } from '../gpu/classes.js'
import { keySourceSchema } from '../config/keySource.js'
import { MAX_RECORD_TTL_SECONDS } from '../registry/record.js'

/** Defaults of the per-address limit: far above what the relayers of a busy provider send (one probe per order per slot, a retry, record fetches). */
export const ADDRESS_RATE_LIMIT = { perSecond: 50, burst: 200 } as const

export const agentConfigSchema = z
  .strictObject({
    key: keySourceSchema.describe(
      "the provider's ed25519 key: a 32-byte hex seed or a PKCS#8 PEM, in a 0600 file or an env variable",
    ),
    listen: z
      .string()
      .regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port')
      .describe('address the agent listens on'),
    metricsListen: z
      .string()
      .regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:9465')
      .optional()
      .describe(
        "address of the agent's Prometheus /metrics listener (requests by route and status, record announcements, each GPU as nvidia-smi reads it), kept off the public port; none when absent",
      ),
    publicUrl: z
      .string()
      .regex(/^https?:\/\/[^/\s]+$/, 'must be an http(s) origin without a path')
      .describe('URL relayers reach this agent at; it goes into the provider record'),
    tls: z
      .strictObject({
        cert: z.string().describe('PEM certificate chain file'),
        key: z.string().describe('PEM private key file'),
      })
      .optional()
      .describe('serve HTTPS; required for a public agent'),
    payout: z.record(z.string(), z.string()).describe('payout address per CAIP-2 chain id'),
    prices: z
      .array(
        z.strictObject({
          chain: z.string().describe('CAIP-2 chain id'),
          token: z.string().describe('token address on that chain, or "native"'),
          gpuClass: z
            .string()
            .refine((id) => gpuClassById(id) !== undefined, 'must be a GPU class of docs/PROTOCOL.md §10')
            .describe('the GPU class this price is for, e.g. ada-rtx40'),
          perSlot: z
            .string()
            .regex(/^\d+$/, "must be a decimal integer of the token's smallest unit")
            .describe('price of one slot of one GPU'),
          slotLength: z.number().int().positive().describe('slot length in seconds the price is for'),
        }),
      )
      .describe('prices per slot per asset'),
    btcScripts: z
      .array(
        z
          .string()
          .regex(
            /^(0x)?([0-9a-fA-F]{2}){1,80}$/,
            'must be a Bitcoin output script (scriptPubKey) of 1 to 80 bytes in hex, e.g. from `bitcoin-cli getaddressinfo <address>`',
          )
          .transform((s) => s.replace(/^0x/, '').toLowerCase()),
      )
      .max(4)
      .default([])
      .describe(
        "Bitcoin output scripts (scriptPubKey hex) a solver may pay this provider's share to; they go into the signed provider record, and relayers do not probe a BTC order paying any other script",
      ),
    relayers: z
      .array(z.string().url())
      .default([])
      .describe('relayer API URLs to announce the provider record to'),
    relayerKeys: z
      .array(
        z
          .string()
          .regex(
            /^0x[0-9a-fA-F]{64}$/,
            'must be a relayer identity key: 32 bytes of 0x hex, the `identity` of a quorum member',
          )
          .transform((k) => k.toLowerCase()),
      )
      .min(1)
      .max(64)
      .optional()
      .describe(
        "identity keys of the relayers of the quorum (each member's `identity` in the relayers' quorum config); when set, challenges from any other key are refused with 403 before anything is signed or kept. Update it when the quorum changes. Unset: any relayer may challenge",
      ),
    recordTtlSeconds: z
      .number()
      .int()
      .min(60)
      .max(MAX_RECORD_TTL_SECONDS)
      .default(86_400)
      .describe(
        `how long a provider record stays valid, at most ${MAX_RECORD_TTL_SECONDS} s (7 days, what relayers accept); it is re-signed and re-announced at half this`,
      ),
    computeRateLimit: z
      .strictObject({
        perSecond: z.number().positive().describe('sustained compute challenges per second per relayer'),
        burst: z.number().int().positive().describe('compute challenges a relayer may send at once'),
      })
      .optional()
      .describe(
        "GPU work each relayer may ask for, over all orders; by default one check per GPU every 20 s and three per GPU at once, enough for 60 s slots (a devnet's short slots need more)",
      ),
    computeConcurrency: z
      .number()
      .int()
      .positive()
      .max(1_000)
      .optional()
      .describe(
        "products of one relayer's compute challenges in progress at once; by default the host's GPU count",
      ),
    rateLimit: z
      .strictObject({
        perSecond: z
          .number()
          .positive()
          .default(5)
          .describe('sustained heartbeat requests per second per relayer and order'),
        burst: z
          .number()
          .int()
          .positive()
          .default(20)
          .describe('requests a relayer may make at once for one order'),
      })
      .prefault({}),
    addressRateLimit: z
      .strictObject({
        perSecond: z
          .number()
          .positive()
          .default(ADDRESS_RATE_LIMIT.perSecond)
          .describe(
            'sustained requests per second from one source address (an IPv6 /64), before anything else is done with them',
          ),
        burst: z
          .number()
          .int()
          .positive()
          .default(ADDRESS_RATE_LIMIT.burst)
          .describe('requests one source address may make at once'),
      })
      .prefault({})
      .describe(
        "a token bucket per source address in front of every route; behind a reverse proxy all relayers share the proxy's address, so raise it there",
      ),
    nvidiaSmi: z.string().default('nvidia-smi').describe('nvidia-smi binary used for GPU telemetry'),
    telemetryTtlMs: z
      .number()
      .int()
      .min(0)
      .max(60_000)
      .default(1_000)
      .describe('how long one nvidia-smi reading answers heartbeats; 0 reads it for every heartbeat'),
    prover: z
      .enum(['gpu-helper', 'cpu-reference', 'none'])
      .default('gpu-helper')
      .describe(
        'what answers compute challenges: the GPU helper (gpu/helper, PyTorch on CUDA); cpu-reference only for the devnet and tests (its class no real relayer accepts); none answers none, and every challenged slot is lost',
      ),
    gpuHelper: z
      .strictObject({
        python: z.string().default('python3').describe('the Python with PyTorch the helper runs under'),
        startTimeoutMs: z
          .number()
          .int()
          .positive()
          .default(120_000)
          .describe('for importing torch and the self-test'),
        timeoutMs: z.number().int().positive().default(30_000).describe('for one commit or answer'),
      })
      .prefault({})
      .describe('the resident GPU helper process the agent starts when prover is gpu-helper'),
  })
  // Anyone could otherwise make the GPU helper multiply 16,384² matrices and take the renter's GPU.
  .refine((c) => c.prover !== 'gpu-helper' || c.relayerKeys !== undefined, {
    path: ['relayerKeys'],
    message: "required with prover gpu-helper: only the quorum's relayers may set the GPU to work",
  })

export type AgentConfig = z.infer<typeof agentConfigSchema>
