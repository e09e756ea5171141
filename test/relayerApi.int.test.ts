import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer } from 'node:http'
import { getAddressDecoder } from '@solana/kit'
import { vaultOrderMemo } from '../src/app/cli/vaultMemo.js'
import { canonicalJson } from '../src/canonicalJson.js'
import { generateEd25519 } from '../src/ed25519.js'
import { isQantaraError } from '../src/errors.js'
import { providerRecordBytes, type ProviderRecord } from '../src/registry/record.js'
import { decodeOrderMemo } from '../src/vault/orderMemo.js'
import { listen } from './support/inProcessRelayer.js'

const CHAIN = 'solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp'
const solana = (byte: number) => getAddressDecoder().decode(new Uint8Array(32).fill(byte))
const provider = generateEd25519().signer
const record: ProviderRecord = {
  v: 1,
  providerId: provider.publicKey,
  url: 'https://gpu.example.org',
  gpus: [],
  payout: { [CHAIN]: solana(2) },
  prices: [],
  seq: 1,
  expiresAt: Math.floor(Date.now() / 1000) + 3_600,
}
const genuine = { record, signature: provider.sign(providerRecordBytes(record)) }
let serving: unknown[] = []
const relayer = createServer((_req, res) =>
  res.writeHead(200, { 'content-type': 'application/json' }).end(canonicalJson({ providers: serving })),
)
let url = ''
beforeAll(async () => {
  url = await listen(relayer)
})
afterAll(() => new Promise((ok) => relayer.close(ok)))

const memoFor = () =>
  vaultOrderMemo({
    chain: CHAIN,
    renter: solana(1),
    provider: provider.publicKey,
    amount: '5000000',
    slots: 6,
    gpu: REFERENCE_ORDER_GPU,
    slotLength: 60,
    start: '+300',
    relayer: url,
  })

describe('renter CLI reading a provider through a relayer', () => {
  it("takes the payout address from the provider's signed record", async () => {
    serving = [genuine]
    const m = await memoFor()
    const read = decodeOrderMemo(m.memo)
    expect(read.ok && Buffer.from(read.memo.payout)).toEqual(Buffer.alloc(32, 2))
  })

  it("refuses a record a lying relayer rewrote to pay the provider's share elsewhere: nothing is printed", async () => {
    serving = [{ ...genuine, record: { ...record, payout: { [CHAIN]: solana(9) } } }]
    const err = await memoFor().catch((e: unknown) => e)
    expect(isQantaraError(err, 'RECORD_REJECTED')).toBe(true)
    expect((err as Error).message).toContain('does not check')
  })
})
