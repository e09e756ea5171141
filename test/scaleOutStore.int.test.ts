import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPostgres, type Postgres } from '../devkit/chains/postgres.js'
import { REFERENCE_ORDER_GPU } from '../devkit/gpu/referenceGpu.js'
import { isQantaraError } from '../src/errors.js'
import { silentLogger } from '../src/log.js'
import type { OrderTerms } from '../src/order.js'
import { Leadership } from '../src/relay/leadership.js'
import { ProbeWorker } from '../src/relay/probeWorker.js'
import type { ProbeJob } from '../src/store/jobs.js'
import type { LeaderLeases } from '../src/store/jobs.js'
import { PostgresStore } from '../src/store/postgres.js'

// The leader lease and the probe job queue of one relayer identity run as several processes, on a real PostgreSQL.
let server: Postgres
let databases = 0
const open = async () => PostgresStore.open({ url: await server.database(`scale_${databases++}`) })
const sameDb = async (n: number) => {
  const url = await server.database(`scale_${databases++}`)
  return Promise.all(Array.from({ length: n }, () => PostgresStore.open({ url })))
}

beforeAll(async () => {
  server = await startPostgres()
})
afterAll(async () => {
  await server?.stop()
})

const terms = (i: number): OrderTerms => ({
  id: `0x${(i + 1).toString(16).padStart(64, '0')}`,
  chain: 'eip155:31337',
  renter: '0xr',
  token: 'native',
  amount: 10n ** 30n,
  providerId: `0x${'11'.repeat(32)}`,
  payout: '0xp',
  start: 1_000n,
  slotLength: 60,
  slots: 10,
  gpu: REFERENCE_ORDER_GPU,
})
const submission = (key: string) => ({
  chain: 'eip155:31337' as const,
  key,
  signer: '0xs',
  nonce: 1,
  state: 'pending' as const,
  payload: { raw: '0x01' },
  updatedAt: 1,
})

describe('the leader lease', () => {
  it('is held by one process at a time, each grant with a higher token, and handed over at once when released', async () => {
    const [a, b] = await sameDb(2)
    const leaseA = await a!.acquireLease('leader:r1', 'A', 10_000)
    expect(leaseA).toEqual({ name: 'leader:r1', holder: 'A', token: 1 })
    expect(await b!.acquireLease('leader:r1', 'B', 10_000)).toBeUndefined()
    expect(await b!.leaseHolder('leader:r1')).toMatchObject({ holder: 'A', token: 1 })
    expect((await b!.leaseHolder('leader:r1'))!.expiresInMs).toBeGreaterThan(9_000)
    // Another identity's lease is its own.
    expect(await b!.acquireLease('leader:r2', 'B', 10_000)).toMatchObject({ token: 1 })
    expect(await a!.renewLease(leaseA!, 10_000)).toBe(true)
    await a!.releaseLease(leaseA!)
    expect(await a!.renewLease(leaseA!, 10_000)).toBe(false)
    expect(await b!.acquireLease('leader:r1', 'B', 10_000)).toEqual({
      name: 'leader:r1',
      holder: 'B',
      token: 2,
    })
    await Promise.all([a!.close(), b!.close()])
  })

  it("stops a frozen leader before a standby takes over, and refuses the deposed leader's chain writes", async () => {
    const [a, b] = await sameDb(2)
    const ttlMs = 3_000
    const leadership = (leases: LeaderLeases, holder: string) =>
      new Leadership({ leases, name: 'leader:r1', holder, ttlMs, logger: silentLogger() })
    const leaseA = (await leadership(a!, 'A').acquire(AbortSignal.timeout(5_000)))!
    a!.fence(leaseA, Math.floor(ttlMs / 4))
    await a!.putSubmission(submission('settle:before'))
    // A freezes: its renewals never answer (a stalled connection), so only its own clock can stop it.
    const frozen: LeaderLeases = { ...bind(a!), renewLease: () => new Promise(() => undefined) }
    const heldA = leadership(frozen, 'A').hold(leaseA)
    const t0 = Date.now()
    const lostAt = new Promise<number>((r) => heldA.lost.addEventListener('abort', () => r(Date.now())))
    const leaseB = (await leadership(b!, 'B').acquire(AbortSignal.timeout(10_000)))!
    const takenAt = Date.now()
    expect(leaseB.token).toBe(leaseA.token + 1)
    // A stopped itself first; B took over within the lease's time to live and a quarter.
    expect(await lostAt).toBeLessThan(takenAt)
    expect(takenAt - t0).toBeLessThanOrEqual(ttlMs * 1.25 + 500)
    b!.fence(leaseB, Math.floor(ttlMs / 4))
    const refused: unknown = await a!.putSubmission(submission('settle:after')).catch((e: unknown) => e)
    expect(isQantaraError(refused, 'FENCED')).toBe(true)
    expect(await b!.getSubmission('eip155:31337', 'settle:after')).toBeUndefined()
    await b!.putSubmission(submission('settle:after'))
    expect((await a!.getSubmission('eip155:31337', 'settle:after'))?.signer).toBe('0xs')
    await heldA.release()
    await Promise.all([a!.close(), b!.close()])
  })
})

describe('probe jobs', () => {
  it('gives each due job to one worker, holds a claim, retries, and drops jobs whose slot ended', async () => {
    const [a, b] = await sameDb(2)
    const jobs = Array.from({ length: 40 }, (_, i) => ({
      terms: terms(i),
      slot: 0,
      runAt: 1_000 + i,
      slotEnd: 60_000,
      attempt: 1,
    }))
    expect(await a!.enqueueProbes(jobs)).toBe(40)
    // One job per order and slot: a repeat is no job.
    expect(await a!.enqueueProbes([{ ...jobs[0]!, runAt: 5 }])).toBe(0)
    expect(await a!.claimProbes(999, 10, 5_000)).toEqual([])
    // Two workers claiming at once: every due job once, none twice.
    const [x, y] = await Promise.all([a!.claimProbes(2_000, 25, 5_000), b!.claimProbes(2_000, 25, 5_000)])
    const ids = [...x, ...y].map((j) => j.terms.id)
    expect(new Set(ids).size).toBe(40)
    expect(ids).toHaveLength(40)
    expect(x[0]!.terms).toEqual(
      terms(x[0]!.terms.id === terms(0).id ? 0 : Number(BigInt(x[0]!.terms.id)) - 1),
    )
    // Held: nobody else gets them until the claim lapses (a worker that died mid-probe).
    expect(await b!.claimProbes(6_999, 50, 5_000)).toEqual([])
    const reclaimed = await b!.claimProbes(7_001, 50, 100_000)
    expect(reclaimed).toHaveLength(40)
    const job = (i: number) => reclaimed.find((j) => j.terms.id === terms(i).id)!
    // The worker whose claim lapsed finishes nothing: the job is the new claimant's.
    const stale = [...x, ...y].find((j) => j.terms.id === terms(0).id)!
    await a!.finishProbes([{ job: stale }, { job: { ...stale, terms: terms(1) }, retryAt: 8_000 }])
    expect(await a!.claimProbes(20_000, 50, 5_000)).toEqual([])
    await a!.finishProbes([{ job: job(0) }, { job: job(1), retryAt: 20_000 }, { job: job(2) }])
    const again = await a!.claimProbes(20_000, 50, 5_000)
    expect(again.map((j) => [j.terms.id, j.attempt])).toEqual([[terms(1).id, 2]])
    // Past the slot's end a job is dropped, claimed or not.
    expect(await a!.claimProbes(60_001, 50, 5_000)).toEqual([])
    expect(await a!.claimProbes(70_000, 50, 5_000)).toEqual([])
    await Promise.all([a!.close(), b!.close()])
  })
})

describe('probe workers', () => {
  it('run each due job once between them, never more at once than their concurrency, and try a failed one again', async () => {
    const [a, b] = await sameDb(2)
    const now = Date.now()
    // A retry is drawn in what is left of the slot after an answer's timeout: here about half a second.
    const slotEnd = now + 600_000
    await a!.enqueueProbes(
      Array.from({ length: 120 }, (_, i) => ({
        terms: terms(i),
        slot: 0,
        runAt: now - 1,
        slotEnd,
        attempt: 1,
      })),
    )
    const probed: [string, number][] = []
    const most = [0, 0]
    const inFlight = [0, 0]
    const stop = new AbortController()
    const worker = (store: PostgresStore, w: number) =>
      new ProbeWorker({
        jobs: store,
        concurrency: 4,
        holdMs: 30_000,
        maxProbeMs: 10_000,
        answerTimeoutMs: 599_500,
        pollMs: 20,
        logger: silentLogger(),
        probe: async (job: ProbeJob) => {
          most[w] = Math.max(most[w]!, ++inFlight[w]!)
          await new Promise((r) => setTimeout(r, 2))
          inFlight[w]!--
          probed.push([job.terms.id, job.attempt])
          // Every tenth order's first try is lost in a way another try may mend.
          return BigInt(job.terms.id) % 10n === 0n && job.attempt === 1 ? 'TIMEOUT' : 'OK'
        },
      }).run(stop.signal)
    const running = [worker(a!, 0), worker(b!, 1)]
    for (let waited = 0; probed.length < 132 && waited < 15_000; waited += 20)
      await new Promise((r) => setTimeout(r, 20))
    stop.abort()
    await Promise.all(running)
    const tries = (id: string) => probed.filter(([p]) => p === id).map(([, attempt]) => attempt)
    expect(probed).toHaveLength(132)
    for (let i = 0; i < 120; i++) expect(tries(terms(i).id)).toEqual((i + 1) % 10 === 0 ? [1, 2] : [1])
    expect(Math.max(...most)).toBeLessThanOrEqual(4)
    // Each finished under its claim: nothing is left to claim.
    expect(await a!.claimProbes(Date.now() + 1_000, 1_000, 1)).toEqual([])
    await Promise.all([a!.close(), b!.close()])
  })
})

function bind(store: PostgresStore): LeaderLeases {
  return {
    acquireLease: (n, h, t) => store.acquireLease(n, h, t),
    renewLease: (l, t) => store.renewLease(l, t),
    releaseLease: (l) => store.releaseLease(l),
    leaseHolder: (n) => store.leaseHolder(n),
    fence: (l, m) => store.fence(l, m),
  }
}
void open
