import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keccak256, toHex, type Address, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { BtcWallet } from '../adapters/bitcoin/wallet.js'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { deployBtcEscrow, deployTestToken } from '../adapters/evm/deploy.js'
import { sortAddresses } from '../adapters/evm/eip712.js'
import { longHeaders } from '../devkit/btcVectors.js'
import { relayerKeys, startEvmTestbed, type EvmTestbed } from '../devkit/evmTestbed.js'
import { runCli, type CliResult } from './support/cli.js'
import { tempDir } from './support/tmp.js'
import { inProcessAgent, listen } from './support/inProcessRelayer.js'
import { createApiServer, type RelayerView } from '../src/api/server.js'
import { generateEd25519 } from '../src/ed25519.js'
import { createSafeHttp } from '../src/http/safeHttp.js'
import { silentLogger } from '../src/log.js'
import { createMetrics } from '../src/metrics.js'
import { ProviderRegistry } from '../src/registry/registry.js'
import { SqliteStore } from '../src/store/sqlite.js'

// anvil's well-known account #2, the renter here.
const RENTER_KEY = '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a'
const RENTER = privateKeyToAccount(RENTER_KEY).address
const SOLVER_KEY = generatePrivateKey()
const tmp = tempDir()
let bed: EvmTestbed
let escrow: Address

function qantara(args: string[]): Promise<CliResult> {
  return runCli(args, {
    env: {
      ...process.env,
      RENTER_KEY,
      SOLVER_EVM_KEY: SOLVER_KEY,
      SOLVER_BTC_KEY: BtcWallet.generateWif('regtest'),
      BTC_RPC_PASSWORD: 'unused',
    },
  })
}
const json = (r: { stdout: string }) => JSON.parse(r.stdout.split('\n').at(-1)!) as Record<string, unknown>
/** Under --json a failure is one JSON object on stdout: its message. */
const failure = (r: { stdout: string }) => (json(r) as { message: string }).message
const chainArgs = () => ['--rpc', bed.anvil.rpcUrl, '--escrow', escrow, '--chain', 'eip155:31337']

beforeAll(async () => {
  bed = await startEvmTestbed()
  const genesis = {
    header: longHeaders.epochStart.hex as Hex,
    height: longHeaders.epochStart.height,
    proofLength: 6,
  }
  const deployed = await deployBtcEscrow(bed.wallet(0), bed.publicClient, {
    relayers: sortAddresses(relayerKeys(3).map((r) => r.address)),
    threshold: 2,
    maxFeeBps: 500,
    reclaimGrace: 3600n,
    btc: { network: 'regtest', confirmations: 6, genesis },
  })
  escrow = deployed.escrow
  writeFileSync(
    join(tmp.dir, 'solver.yaml'),
    [
      'store: { path: solver.db }',
      'bitcoin: { network: regtest, rpc: { url: "http://127.0.0.1:18334", user: u, password: { env: BTC_RPC_PASSWORD } } }',
      'btcKey: { env: SOLVER_BTC_KEY }',
      'chains:',
      `  - { family: evm, id: "eip155:31337", rpc: ["${bed.anvil.rpcUrl}"], escrow: "${escrow}", key: { env: SOLVER_EVM_KEY }, submitter: { maxFeePerGasWei: "100000000000" } }`,
    ].join('\n'),
  )
}, 120_000)
afterAll(async () => {
  await bed?.stop()
  tmp.cleanup()
})

describe('qantara order, for a provider paid in BTC', () => {
  const script = `0014${'11'.repeat(20)}`
  const solverQuote = (orderId: string, extra: string[] = [], paidTo = script) =>
    qantara([
      'solver',
      'quote',
      '--config',
      join(tmp.dir, 'solver.yaml'),
      '--chain',
      'eip155:31337',
      '--order-id',
      orderId,
      '--script',
      paidTo,
      '--rate',
      '1000000',
      '--max-amount',
      '10000000000000000',
      ...extra,
    ])
  /** A quote for 0.01 ETH at most, paid out within 4 h: by default it must be opened within 10 minutes and end 3 h before that (the proof latency). */
  async function quoted(
    extra: string[] = ['--deadline', String(Math.floor(Date.now() / 1000) + 4 * 3600)],
    paidTo = script,
  ) {
    const id = json(await qantara(['order', 'id', ...chainArgs(), '--renter', RENTER]))
    const quote = await solverQuote(id.orderId as string, extra, paidTo)
    expect(quote.code).toBe(0)
    const path = join(tmp.dir, `quote-${id.salt as string}.json`)
    writeFileSync(path, quote.stdout)
    return { id, path, quote: json(quote) }
  }
  const open = (salt: string, quote: string) =>
    qantara([
      'order',
      'open',
      ...chainArgs(),
      '--key-env',
      'RENTER_KEY',
      '--provider',
      keccak256(toHex('provider')),
      '--payout',
      bed.account(8).address,
      '--amount',
      '10000000000000000',
      '--slots',
      '3',
      '--gpu',
      '1xcpu-reference',
      '--salt',
      salt,
      '--btc-quote',
      quote,
      '--json',
    ])

  it("opens an order with the solver's quote: the escrow records the BTC terms as quoted", async () => {
    const { id, path, quote } = await quoted()
    const opened = await open(id.salt as string, path)
    expect(opened.code).toBe(0)
    const summary = json(opened)
    expect(summary.orderId).toBe(id.orderId)
    const status = await qantara(['order', 'status', summary.orderId as string, ...chainArgs(), '--json'])
    expect(status.code, status.stderr).toBe(0)
    expect(json(status)).toMatchObject({ custody: 'escrow', onChain: 'open', relayer: null, final: false })
    const now = Math.floor(Date.now() / 1000)
    expect(quote.token).toBe('native')
    expect(Number(quote.openBy)).toBeGreaterThan(now + 500)
    expect(Number(quote.openBy)).toBeLessThanOrEqual(now + 600)
    expect(BigInt(quote.latestEnd as string)).toBe(BigInt(quote.payoutDeadline as string) - 10_800n)
    expect(summary.btc).toEqual({
      script,
      solver: privateKeyToAccount(SOLVER_KEY).address,
      satsPerE18: '1000000',
      payoutDeadline: quote.payoutDeadline,
      maxAmount: '10000000000000000',
      openBy: quote.openBy,
      latestEnd: quote.latestEnd,
    })
    const [requested] = await bed.publicClient.getContractEvents({
      address: escrow,
      abi: qantaraEscrowAbi,
      eventName: 'BtcPayoutRequested',
      args: { orderId: id.orderId as Hex },
      fromBlock: 0n,
      strict: true,
    })
    expect(requested?.args).toMatchObject({
      script: `0x${script}`,
      solver: privateKeyToAccount(SOLVER_KEY).address,
      satsPerE18: 1_000_000n,
      payoutDeadline: BigInt(quote.payoutDeadline as string),
      maxAmount: 10n ** 16n,
      openBy: BigInt(quote.openBy as string),
      latestEnd: BigInt(quote.latestEnd as string),
    })
  })

  it("the solver quotes only its tokens and leaves itself its proof latency; the order command keeps to the quote's token and amount", async () => {
    const { id } = await quoted()
    const deadline = String(Math.floor(Date.now() / 1000) + 4 * 3600)
    const otherToken = await solverQuote(id.orderId as string, [
      '--deadline',
      deadline,
      '--token',
      bed.account(9).address,
    ])
    expect(otherToken.code).toBe(2)
    expect(otherToken.stderr).toContain('is not among the tokens this solver pays for')
    const tooLate = await solverQuote(id.orderId as string, [
      '--deadline',
      deadline,
      '--latest-end',
      String(Number(deadline) - 3600),
    ])
    expect(tooLate.code).toBe(2)
    expect(tooLate.stderr).toContain("leaves less than the solver's proof latency (10800 s)")
    const tooSoon = await solverQuote(id.orderId as string, [
      '--deadline',
      String(Math.floor(Date.now() / 1000) + 3600),
    ])
    expect(tooSoon.code).toBe(2)
    expect(tooSoon.stderr).toContain('no order can end by')

    const { id: next, path } = await quoted()
    const tooMuch = await qantara([
      'order',
      'open',
      ...chainArgs(),
      '--key-env',
      'RENTER_KEY',
      '--provider',
      keccak256(toHex('provider')),
      '--payout',
      bed.account(8).address,
      '--amount',
      '20000000000000000',
      '--slots',
      '3',
      '--gpu',
      '1xcpu-reference',
      '--salt',
      next.salt as string,
      '--btc-quote',
      path,
      '--json',
    ])
    expect(tooMuch.code).toBe(2)
    expect(failure(tooMuch)).toContain("above the quote's maximum of 10000000000000000")
    const usdc = await deployTestToken(bed.wallet(0), bed.publicClient, 'USDC', 6)
    const otherOrderToken = await qantara([
      'order',
      'open',
      ...chainArgs(),
      '--key-env',
      'RENTER_KEY',
      '--token',
      usdc,
      '--provider',
      keccak256(toHex('provider')),
      '--payout',
      bed.account(8).address,
      '--amount',
      '10000',
      '--slots',
      '3',
      '--gpu',
      '1xcpu-reference',
      '--salt',
      next.salt as string,
      '--btc-quote',
      path,
      '--json',
    ])
    expect(otherOrderToken.code).toBe(2)
    expect(failure(otherOrderToken)).toContain('the quote is for token native: open with --token native')
    expect(
      await bed.publicClient.readContract({
        address: escrow,
        abi: qantaraEscrowAbi,
        functionName: 'orderState',
        args: [next.orderId as Hex],
      }),
    ).toBe(toHex(0, { size: 32 }))
  })

  it('refuses a quote for another order id, a doctored quote and a file that is not one, opening nothing', async () => {
    const { id, path, quote } = await quoted()
    const otherSalt = toHex(crypto.getRandomValues(new Uint8Array(32)))
    const wrongSalt = await open(otherSalt, path)
    expect(wrongSalt.code).toBe(2)
    expect(failure(wrongSalt)).toContain(`the quote is for order ${id.orderId as string}`)

    const doctored = join(tmp.dir, 'doctored.json')
    writeFileSync(doctored, JSON.stringify({ ...quote, satsPerE18: '2000000' }))
    const refused = await open(id.salt as string, doctored)
    expect(refused.code).toBe(4)
    expect(failure(refused)).toContain('BadQuoteSignature')
    expect(
      await bed.publicClient.readContract({
        address: escrow,
        abi: qantaraEscrowAbi,
        functionName: 'orderState',
        args: [id.orderId as Hex],
      }),
    ).toBe(toHex(0, { size: 32 }))

    const notAQuote = join(tmp.dir, 'not.json')
    writeFileSync(notAQuote, JSON.stringify({ orderId: id.orderId }))
    const bad = await open(id.salt as string, notAQuote)
    expect(bad.code).toBe(2)
    expect(failure(bad)).toContain('is not a solver quote')
  })

  it("with --relayer, refuses a quote paying BTC to a script the provider's signed record does not list (the renter's own), opening nothing", async () => {
    // A real provider agent listing its script, registered with a real relayer API that checked its endpoint.
    const provider = generateEd25519().signer
    const agent = await inProcessAgent(provider, {
      payout: { 'eip155:31337': bed.account(8).address },
      prices: [],
      btcScripts: [script],
    })
    const store = new SqliteStore(':memory:')
    const http = { timeoutMs: 2_000, maxBytes: 64 * 1024, allowPrivate: true }
    const registry = new ProviderRegistry({
      store,
      http: createSafeHttp(http),
      httpOptions: http,
      logger: silentLogger(),
    })
    const relayer = {
      health: () => Promise.resolve({ ready: true, chains: {}, store: true }),
    } as unknown as RelayerView
    const api = createApiServer({
      store,
      relayer,
      registry,
      metrics: createMetrics(),
      registrations: { perMinute: 60, burst: 10 },
      logger: silentLogger(),
    })
    const apiUrl = await listen(api)
    try {
      await registry.submit(agent.agent.record)
      const openVia = (salt: string, quote: string) =>
        qantara([
          'order',
          'open',
          ...chainArgs(),
          '--key-env',
          'RENTER_KEY',
          '--provider',
          provider.publicKey,
          '--relayer',
          apiUrl,
          '--amount',
          '10000000000000000',
          '--slots',
          '3',
          '--gpu',
          '1xcpu-reference',
          '--salt',
          salt,
          '--btc-quote',
          quote,
          '--json',
        ])
      // The attack: the provider's real payout (from its record) as the fallback, and the solver paying the renter's own script.
      const renterScript = `0014${'22'.repeat(20)}`
      const stolen = await quoted(undefined, renterScript)
      const refused = await openVia(stolen.id.salt as string, stolen.path)
      expect(refused.code).toBe(4)
      expect(failure(refused)).toContain(
        `the quote pays BTC to script ${renterScript}, which provider ${provider.publicKey}'s signed record does not list (it lists ${script})`,
      )
      expect(
        await bed.publicClient.readContract({
          address: escrow,
          abi: qantaraEscrowAbi,
          functionName: 'orderState',
          args: [stolen.id.orderId as Hex],
        }),
      ).toBe(toHex(0, { size: 32 }))

      const fair = await quoted()
      const opened = await openVia(fair.id.salt as string, fair.path)
      expect(opened.code).toBe(0)
      expect((json(opened).btc as { script: string }).script).toBe(script)
      const [event] = await bed.publicClient.getContractEvents({
        address: escrow,
        abi: qantaraEscrowAbi,
        eventName: 'OrderOpened',
        args: { orderId: fair.id.orderId as Hex },
        fromBlock: 0n,
        strict: true,
      })
      expect([event?.args.providerId, event?.args.payout]).toEqual([
        provider.publicKey,
        bed.account(8).address,
      ])
    } finally {
      await new Promise((ok) => api.close(ok))
      await agent.close()
      await store.close()
    }
  })
})
