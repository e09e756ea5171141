import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createMultisigThresholdPubkey, pubkeyToAddress } from '@cosmjs/amino'
import { toBech32 } from '@cosmjs/encoding'
import { getAddressDecoder } from '@solana/kit'
import { afterAll, describe, expect, it } from 'vitest'
import { cosmosQuotedTerms } from '../adapters/cosmos/btcQuote.js'
import { cosmosKeyFromSecret } from '../adapters/cosmos/keys.js'
import { solanaQuotedTerms } from '../adapters/solana/btcQuote.js'
import { BtcWallet } from '../adapters/bitcoin/wallet.js'
import { generateEd25519 } from '../src/ed25519.js'
import { orderEnd } from '../src/order.js'
import { decodeOrderMemo } from '../src/vault/orderMemo.js'
import { runCli } from './support/cli.js'
import { tempDir } from './support/tmp.js'

const tmp = tempDir()
afterAll(() => tmp.cleanup())
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n))
const solanaAddress = () => getAddressDecoder().decode(random(32))
const SOLANA = 'solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp'
const COSMOS = 'cosmos:cosmoshub-4'
const MINT = solanaAddress()
const DENOM = 'ibc/498A0751C798A0D9A389AA3691123DADA57DAA4FE165D5C75894505B876BA6E4'
const solanaVault = solanaAddress()
const solverSeed = generateEd25519().seed
const cosmosSecret = Buffer.from(random(32)).toString('hex')
const cosmosSolver = cosmosKeyFromSecret({ kind: 'hex', value: cosmosSecret }, 'cosmos')
const relayerKeys = [1, 2].map(() =>
  Buffer.from(
    cosmosKeyFromSecret({ kind: 'hex', value: Buffer.from(random(32)).toString('hex') }, 'cosmos').pubkey,
  ).toString('base64'),
)
const vaultMultisig = createMultisigThresholdPubkey(
  relayerKeys.map((value) => ({ type: 'tendermint/PubKeySecp256k1', value })),
  2,
)
const cosmosVault = pubkeyToAddress(vaultMultisig, 'cosmos')
const script = `0014${'22'.repeat(20)}`
const CAP = 100_000_000n

const env = {
  ...process.env,
  SOLVER_BTC_KEY: BtcWallet.generateWif('regtest'),
  SOLVER_SOLANA_KEY: solverSeed,
  SOLVER_COSMOS_KEY: cosmosSecret,
  BTC_RPC_PASSWORD: 'unused',
}
const qantara = (args: string[]) => runCli(args, { env })
const json = (r: { stdout: string }) => JSON.parse(r.stdout.split('\n').at(-1)!) as Record<string, string>

/** A solver serving a Solana vault and a Cosmos vault: what `solver quote` reads (nothing here is dialled). */
function solverConfig(): string {
  const path = join(tmp.dir, 'solver.yaml')
  writeFileSync(
    path,
    [
      'store: { path: solver.db }',
      'bitcoin: { network: regtest, rpc: { url: "http://127.0.0.1:18334", user: u, password: { env: BTC_RPC_PASSWORD } } }',
      'btcKey: { env: SOLVER_BTC_KEY }',
      'chains:',
      `  - { family: solana, id: "${SOLANA}", rpc: ["http://127.0.0.1:8899"], vault: "${solanaVault}", mint: "${MINT}", multisig: "${solanaAddress()}", receiptMint: "${solanaAddress()}", key: { env: SOLVER_SOLANA_KEY }, maxPayoutSats: "${CAP}" }`,
      `  - { family: cosmos, id: "${COSMOS}", rpc: ["http://127.0.0.1:26657"], vault: "${cosmosVault}", denoms: ["${DENOM}"], gasPrice: "0.025uatom", multisig: { threshold: 2, pubkeys: ${JSON.stringify(vaultMultisig.value.pubkeys.map((p) => p.value))} }, key: { env: SOLVER_COSMOS_KEY }, maxPayoutSats: "${CAP}" }`,
    ].join('\n'),
  )
  return path
}

describe('qantara solver quote and order memo --quote, for a vault order paid in BTC', () => {
  const config = solverConfig()
  const deadline = BigInt(Math.floor(Date.now() / 1000)) + 8n * 3_600n
  const memoArgs = (chain: string, renter: string, payout: string, salt: string) => [
    'order',
    'memo',
    '--chain',
    chain,
    '--renter',
    renter,
    '--provider',
    `0x${'ab'.repeat(32)}`,
    '--amount',
    '5000000',
    '--gpu',
    '1xhopper-h100',
    '--slots',
    '10',
    '--slot-length',
    '60',
    '--start',
    '+300',
    '--payout',
    payout,
    '--salt',
    salt,
  ]
  const quote = (chain: string, token: string, orderId: string) =>
    qantara([
      'solver',
      'quote',
      '--config',
      config,
      '--chain',
      chain,
      '--token',
      token,
      '--order-id',
      orderId,
      '--script',
      script,
      '--rate',
      String(10n ** 15n),
      '--deadline',
      String(deadline),
      '--max-amount',
      '5000000',
    ])

  /** The renter's steps: the order id for a salt, the solver's quote for it, the memo carrying the quote. */
  async function quotedMemo(chain: string, token: string, renter: string, payout: string) {
    const salt = `0x${Buffer.from(random(16)).toString('hex')}`
    const plain = await qantara(memoArgs(chain, renter, payout, salt))
    expect(plain.code).toBe(0)
    const signed = await quote(chain, token, json(plain).orderId!)
    expect(signed.code).toBe(0)
    const path = join(tmp.dir, `quote-${salt}.json`)
    writeFileSync(path, signed.stdout)
    const withQuote = await qantara([...memoArgs(chain, renter, payout, salt), '--quote', path])
    expect(withQuote.code).toBe(0)
    const read = decodeOrderMemo(json(withQuote).memo!)
    if (!read.ok) throw new Error(read.reason)
    // Another salt is another order id: the quote is refused before anything is sent.
    const other = await qantara([
      '--json',
      ...memoArgs(chain, renter, payout, `0x${'00'.repeat(16)}`),
      '--quote',
      path,
    ])
    expect(other.code).not.toBe(0)
    expect(json(other).message).toContain('the quote is for order')
    return { orderId: json(withQuote).orderId! as `0x${string}`, memo: read.memo, quote: json(signed) }
  }

  it('on Solana: the memo carries a quote the vault watcher takes, naming the solver it repays', async () => {
    const { orderId, memo, quote: q } = await quotedMemo(SOLANA, MINT, solanaAddress(), solanaAddress())
    expect(q.solver).toBe(getAddressDecoder().decode(memo.quote!.solver))
    const nowS = BigInt(Math.floor(Date.now() / 1000))
    const order = {
      chain: SOLANA,
      vault: solanaVault,
      orderId,
      token: MINT,
      amount: 5_000_000n,
      end: orderEnd(memo),
    }
    expect(solanaQuotedTerms(order, memo.quote!, nowS, CAP)).toEqual({
      terms: {
        script,
        solver: q.solver,
        satsPerE18: 10n ** 15n,
        payoutDeadline: deadline,
        maxAmount: 5_000_000n,
        openBy: BigInt(q.openBy!),
        latestEnd: BigInt(q.latestEnd!),
      },
    })
    // The same quote read for another vault or mint is no quote at all.
    expect(solanaQuotedTerms({ ...order, vault: solanaAddress() }, memo.quote!, nowS, CAP)).toEqual({
      problem: 'BAD_QUOTE_SIGNATURE',
    })
    expect(solanaQuotedTerms({ ...order, token: solanaAddress() }, memo.quote!, nowS, CAP)).toEqual({
      problem: 'BAD_QUOTE_SIGNATURE',
    })
  })

  it("on Cosmos: the quote names the solver's public key, which the memo carries and its account is derived from", async () => {
    const {
      orderId,
      memo,
      quote: q,
    } = await quotedMemo(COSMOS, DENOM, toBech32('cosmos', random(20)), toBech32('cosmos', random(20)))
    expect(q.solver).toBe(cosmosSolver.address)
    expect(q.solverKey).toBe(Buffer.from(cosmosSolver.pubkey).toString('hex'))
    const nowS = BigInt(Math.floor(Date.now() / 1000))
    const order = {
      chain: COSMOS,
      vault: cosmosVault,
      orderId,
      token: DENOM,
      amount: 5_000_000n,
      end: orderEnd(memo),
    }
    const read = cosmosQuotedTerms(order, memo.quote!, nowS, CAP, 'cosmos')
    expect('terms' in read && read.terms.solver).toBe(cosmosSolver.address)
    expect(cosmosQuotedTerms({ ...order, token: 'uatom' }, memo.quote!, nowS, CAP, 'cosmos')).toEqual({
      problem: 'BAD_QUOTE_SIGNATURE',
    })
  })
})
