// Heartbeat verification throughput beside a bare node:crypto ed25519 verify
// loop, measured in the same run. Run: npm run build && node dist/bench/heartbeats.js
import { createPublicKey, verify } from 'node:crypto'
import { canonicalJson } from '../src/canonicalJson.js'
import { generateEd25519 } from '../src/ed25519.js'
import { heartbeatBytes } from '../src/heartbeat/bytes.js'
import { ChallengeBook } from '../src/heartbeat/challenges.js'
import type { Heartbeat } from '../src/heartbeat/schema.js'
import { verifyHeartbeat } from '../src/heartbeat/verify.js'

const N = 20_000
const relayer = generateEd25519().signer
const provider = generateEd25519().signer
const orderId = `0x${'ab'.repeat(32)}`
const book = new ChallengeBook('r1', relayer, 3_600_000, N + 1)
const now = Date.now()
const gpus = [
  {
    index: 0,
    name: 'NVIDIA H100 80GB HBM3',
    uuid: 'GPU-1',
    memoryTotalMiB: 81559,
    memoryUsedMiB: 1024,
    utilizationPct: 97,
    temperatureC: 61,
    powerDrawMilliwatts: 612_450,
  },
]
const bodies: string[] = []
for (let i = 0; i < N; i++) {
  const heartbeat: Heartbeat = { v: 1, challenge: book.issue(orderId, 3, now), timestamp: now, gpus }
  bodies.push(canonicalJson({ heartbeat, signature: provider.sign(heartbeatBytes(heartbeat)) }))
}
const ctx = {
  order: { id: orderId, providerId: provider.publicKey, slots: 10 },
  slot: 3,
  relayerKeys: new Map([['r1', relayer.publicKey]]),
  nowMs: now,
  skewMs: 60_000,
  own: { relayerId: 'r1', issued: book.issued.bind(book), consume: book.consume.bind(book) },
}

// Baseline: the one signature check a heartbeat cannot avoid, on the same message bytes.
const key = createPublicKey({
  key: Buffer.concat([
    Buffer.from('302a300506032b6570032100', 'hex'),
    Buffer.from(provider.publicKey.slice(2), 'hex'),
  ]),
  format: 'der',
  type: 'spki',
})
const parsed = bodies.map((b) => JSON.parse(b) as { heartbeat: Heartbeat; signature: string })
const messages = parsed.map((p) => heartbeatBytes(p.heartbeat))
const sigs = parsed.map((p) => Buffer.from(p.signature.slice(2), 'hex'))

let t = performance.now()
for (let i = 0; i < N; i++)
  if (!verify(null, messages[i]!, key, sigs[i]!)) throw new Error('baseline verify failed')
const bare = N / ((performance.now() - t) / 1000)

t = performance.now()
for (let i = 0; i < N; i++)
  if (!verifyHeartbeat(bodies[i]!, ctx).ok) throw new Error(`heartbeat ${i} rejected`)
const full = N / ((performance.now() - t) / 1000)

console.log('| measure | per second | baseline (same run) | ratio |\n|---|---:|---|---:|')
console.log(
  `| heartbeats verified (parse, schema, signatures, freshness, nonce) | ${Math.round(full)} | bare node:crypto ed25519 verify: ${Math.round(bare)}/s | ${(full / bare).toFixed(2)}× |`,
)
console.log(`\ngoal >= 0.8x: ${full / bare >= 0.8 ? 'met' : 'MISSED'}`)
