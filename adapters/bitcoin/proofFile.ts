import { z } from 'zod'
import type { SpvProof } from './spvProof.js'

const hex = (max: number) =>
  z
    .string()
    .max(max * 2 + 2)
    .transform((v) => v.replace(/^0x/, ''))
    .refine((v) => /^([0-9a-fA-F]{2})*$/.test(v), 'must be hex bytes')
const hash = hex(32).refine((v) => v.length === 64, 'must be 32 bytes')
const header = hex(80).refine((v) => v.length === 160, 'must be an 80-byte header')
const bytes = (v: string) => Uint8Array.from(Buffer.from(v, 'hex'))

/** The proof file `qantara btc verify-proof` reads; the limits keep a hostile file from costing more than a real proof. */
export const proofFileSchema = z.strictObject({
  tx: hex(400_000),
  txIndex: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1),
  merkle: z.array(hash).max(32),
  headers: z.array(header).min(1).max(4_032),
  coinbase: hex(100_000).optional(),
  coinbaseMerkle: z.array(hash).max(32).optional(),
  expectedBits: z
    .string()
    .regex(/^[0-9a-fA-F]{8}$/, 'must be nBits as 8 hex digits')
    .optional(),
})

export function proofFromFile(f: z.infer<typeof proofFileSchema>): {
  proof: SpvProof
  expectedBits?: number
} {
  const proof: SpvProof = {
    tx: bytes(f.tx),
    txIndex: f.txIndex,
    merkle: f.merkle.map(bytes),
    headers: f.headers.map(bytes),
    ...(f.coinbase !== undefined ? { coinbase: bytes(f.coinbase) } : {}),
    ...(f.coinbaseMerkle !== undefined ? { coinbaseMerkle: f.coinbaseMerkle.map(bytes) } : {}),
  }
  return f.expectedBits !== undefined
    ? { proof, expectedBits: Number.parseInt(f.expectedBits, 16) }
    : { proof }
}
