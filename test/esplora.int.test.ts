import { createServer } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Transaction, payments } from 'bitcoinjs-lib'
import { secp256k1 } from '@noble/curves/secp256k1'
import { startBtcd, type Btcd } from '../devkit/chains/btcd.js'
import { BITCOIN_CHAIN_IDS } from '../adapters/bitcoin/config.js'
import { EsploraClient } from '../adapters/bitcoin/esplora.js'
import { MAINNET, REGTEST, sha256d, toDisplayHex } from '../adapters/bitcoin/header.js'
import { BtcPayoutWatcher } from '../adapters/bitcoin/payoutWatcher.js'
import { buildSpvProof } from '../adapters/bitcoin/proofBuilder.js'
import type { BitcoinChainSource } from '../adapters/bitcoin/source.js'
import { withoutWitness } from '../adapters/bitcoin/tx.js'
import { BtcWallet } from '../adapters/bitcoin/wallet.js'
import { bytes, tbtcProof, tbtcProofs } from '../devkit/btcVectors.js'
import { startEsploraOverBtcd, type EsploraFacade } from './support/esploraOverBtcd.js'
import { codeOf } from './support/errors.js'

const codeWithoutContext = async (p: Promise<unknown>) => (await codeOf(p)).replace(/:.*$/, '')

describe('Esplora client on recorded mainnet answers (no Esplora server can run here)', () => {
  // tbtc's export of mainnet tx 713525ee… came from Electrum's get_merkle, the shape Esplora serves: display-order siblings.
  const p = tbtcProofs.transactionConfirmationsInOneEpochData
  const expected = tbtcProof(p)
  const headers = expected.headers
  const hashes = headers.map((h) => toDisplayHex(sha256d(h)))
  const height = p.transactionMerkleBranch.blockHeight
  const coinbaseId = Transaction.fromHex(p.coinbaseRawTransaction.transactionHex).getId()
  const txid = p.transaction.transactionHash
  const routes = new Map<string, string>([
    ['/blocks/tip/height', String(height + headers.length - 1)],
    [`/block/${hashes[0]}`, JSON.stringify({ id: hashes[0], height })],
    [`/block/${hashes[0]}/txid/0`, coinbaseId],
    [`/tx/${txid}/hex`, p.derived.rawTransactionStripped],
    [
      `/tx/${txid}/merkle-proof`,
      JSON.stringify({
        block_height: height,
        merkle: p.transactionMerkleBranch.merkle,
        pos: p.transactionMerkleBranch.position,
      }),
    ],
    [`/tx/${coinbaseId}/hex`, p.coinbaseRawTransaction.transactionHex],
    [
      `/tx/${coinbaseId}/merkle-proof`,
      JSON.stringify({ block_height: height, merkle: p.coinbaseMerkleBranch.merkle, pos: 0 }),
    ],
    ...hashes.flatMap((hash, i): [string, string][] => [
      [`/block-height/${height + i}`, hash],
      [`/block/${hash}/header`, Buffer.from(headers[i]!).toString('hex')],
    ]),
  ])
  const server = createServer((req, res) => {
    const body = routes.get(req.url ?? '')
    res.writeHead(body === undefined ? 404 : 200).end(body ?? 'not found')
  })
  let url = ''
  beforeAll(
    () =>
      new Promise<void>((ok) =>
        server.listen(0, '127.0.0.1', () => {
          url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
          ok()
        }),
      ),
  )
  afterAll(() => new Promise<void>((ok) => server.close(() => ok())))

  it('turns display-order siblings into the branch that proves the payout, coinbase included', async () => {
    const proof = await buildSpvProof(
      new EsploraClient({ url, timeoutMs: 5_000 }),
      MAINNET,
      txid,
      hashes[0]!,
      6,
    )
    expect(proof.height).toBe(776_166)
    expect(proof.txIndex).toBe(17)
    expect(proof.merkle.map(toDisplayHex)).toEqual(p.transactionMerkleBranch.merkle)
    expect(proof.merkle).toEqual(expected.merkle)
    expect(proof.coinbaseMerkle).toEqual(expected.coinbaseMerkle)
    expect(proof.coinbase).toEqual(withoutWitness(bytes(p.coinbaseRawTransaction.transactionHex)))
    expect(proof.headers).toEqual(headers)
  })

  it('refuses a chain not yet deep enough for the confirmations asked', async () => {
    expect(
      await codeWithoutContext(
        buildSpvProof(new EsploraClient({ url, timeoutMs: 5_000 }), MAINNET, txid, hashes[0]!, 7),
      ),
    ).toBe('RPC_BAD_RESPONSE')
  })
})

describe('Esplora client against a test Esplora facade over btcd (no electrs binary here)', () => {
  let btcd: Btcd
  let esplora: EsploraFacade
  let client: EsploraClient
  let solver: BtcWallet
  const orderId = `0x${'ab'.repeat(32)}` as const
  let payout: { txid: string; blockHash: string }

  beforeAll(async () => {
    solver = BtcWallet.fromKeyText(BtcWallet.generateWif('regtest'), 'regtest')
    btcd = await startBtcd({ miningAddress: solver.address })
    await btcd.rpc.mine(440)
    esplora = await startEsploraOverBtcd(btcd.rpc)
    client = new EsploraClient({ url: esplora.url, timeoutMs: 5_000, maxResponseBytes: 1024 * 1024 })
    const script = Uint8Array.from(
      payments.p2wpkh({ pubkey: secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true) }).output!,
    )
    // Fill the block with other payments so the payout sits in a tree several levels deep.
    let utxos = await btcd.rpc.listUnspent(solver.address)
    for (let i = 0; i < 4; i++) {
      const other = solver.pay({
        outputs: [{ script, value: 10_000n + BigInt(i) }],
        tag: Buffer.alloc(32, i + 1),
        utxos: utxos.slice(i, i + 1),
        feeRate: 2,
      })
      await btcd.rpc.sendRawTransaction(other.hex)
    }
    utxos = utxos.slice(4)
    const paid = solver.pay({
      outputs: [{ script, value: 600_000n }],
      tag: Buffer.from(orderId.slice(2), 'hex'),
      utxos,
      feeRate: 2,
    })
    await btcd.rpc.sendRawTransaction(paid.hex)
    const [blockHash] = await btcd.rpc.mine(6)
    payout = { txid: paid.txid, blockHash: blockHash! }
  }, 600_000)
  afterAll(async () => {
    await esplora?.stop()
    await btcd?.stop()
  })

  const watcher = (source: BitcoinChainSource) =>
    new BtcPayoutWatcher({
      chain: BITCOIN_CHAIN_IDS.regtest,
      source,
      confirmations: 6,
      startHeight: 441,
      isWatched: (id) => Promise.resolve(id === orderId),
    })

  it('reads the same payouts and builds byte for byte the proof the node gives', async () => {
    const overEsplora = await watcher(client).poll(undefined)
    const overNode = await watcher(btcd.rpc).poll(undefined)
    expect(overEsplora).toEqual(overNode)
    expect(overEsplora.events).toEqual([
      expect.objectContaining({ kind: 'BtcPayoutSeen', txHash: payout.txid, orderId }),
    ])
    const fromEsplora = await buildSpvProof(client, REGTEST, payout.txid, payout.blockHash, 6)
    expect(fromEsplora.merkle.length).toBeGreaterThanOrEqual(3)
    expect(fromEsplora).toEqual(await buildSpvProof(btcd.rpc, REGTEST, payout.txid, payout.blockHash, 6))
  })

  it("refuses a wrong branch, another block's bytes and an oversized block, changing nothing", async () => {
    esplora.lies.branch = true
    expect(await codeWithoutContext(buildSpvProof(client, REGTEST, payout.txid, payout.blockHash, 6))).toBe(
      'RPC_BAD_RESPONSE',
    )
    esplora.lies.branch = false
    esplora.lies.otherBlock = true
    expect(await codeWithoutContext(watcher(client).poll(undefined))).toBe('RPC_BAD_RESPONSE')
    esplora.lies.otherBlock = false
    esplora.lies.hugeBlock = 2 * 1024 * 1024
    expect(await codeWithoutContext(client.getBlockTxs(payout.blockHash))).toBe('RPC_BAD_RESPONSE')
    esplora.lies.hugeBlock = 0
    expect((await watcher(client).poll(undefined)).events).toHaveLength(1)
  })

  it('reports an unreachable server as unavailable, within its timeout', async () => {
    const gone = new EsploraClient({ url: 'http://127.0.0.1:9', timeoutMs: 500 })
    expect(await codeWithoutContext(gone.getBlockCount())).toBe('RPC_UNAVAILABLE')
  })
})
