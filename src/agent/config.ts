import { z } from 'zod'
import { keySourceSchema } from '../config/keySource.js'

export const agentConfigSchema = z.strictObject({
  key: keySourceSchema.describe('the provider\'s ed25519 key: a 32-byte hex seed or a PKCS#8 PEM, in a 0600 file or an env variable'),
  listen: z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port').describe('address the agent listens on'),
  publicUrl: z.string().regex(/^https?:\/\/[^/\s]+$/, 'must be an http(s) origin without a path').describe('URL relayers reach this agent at; it goes into the provider record'),
  tls: z.strictObject({ cert: z.string().describe('PEM certificate chain file'), key: z.string().describe('PEM private key file') }).optional().describe('serve HTTPS; required for a public agent'),
  payout: z.record(z.string(), z.string()).describe('payout address per CAIP-2 chain id'),
  prices: z.array(z.strictObject({
    chain: z.string().describe('CAIP-2 chain id'),
    token: z.string().describe('token address on that chain, or "native"'),
    perSlot: z.string().regex(/^\d+$/, 'must be a decimal integer of the token\'s smallest unit').describe('price of one slot'),
    slotLength: z.number().int().positive().describe('slot length in seconds the price is for'),
  })).describe('prices per slot per asset'),
  relayers: z.array(z.string().url()).default([]).describe('relayer API URLs to announce the provider record to'),
  recordTtlSeconds: z.number().int().min(60).default(86_400).describe('how long a provider record stays valid; it is re-signed and re-announced at half this'),
  rateLimit: z.strictObject({
    perSecond: z.number().positive().default(5).describe('sustained heartbeat requests per second per relayer'),
    burst: z.number().int().positive().default(20).describe('requests a relayer may make at once'),
  }).prefault({}),
  nvidiaSmi: z.string().default('nvidia-smi').describe('nvidia-smi binary used for GPU telemetry'),
})

export type AgentConfig = z.infer<typeof agentConfigSchema>
