import { Transaction } from 'bitcoinjs-lib'
import { describe, expect, it } from 'vitest'
import {
  bitsToTarget,
  MAINNET,
  nextEpochBits,
  parseHeader,
  REGTEST,
  sha256d,
  targetToBits,
  toDisplayHex,
  workOf,
  type BitcoinNetworkParams,
} from '../adapters/bitcoin/header.js'
import { verifyHeaderChain } from '../adapters/bitcoin/headerChain.js'
import { verifyMerkleBranch } from '../adapters/bitcoin/merkle.js'
import { verifySpvProof, type SpvProof } from '../adapters/bitcoin/spvProof.js'
import {
  bytes,
  headersReorg,
  headersWithRetarget,
  longHeaders,
  summaBad,
  summaValid,
  summaVectors,
  tbtcProof,
  tbtcProofs,
} from '../devkit/btcVectors.js'

const oneEpoch = tbtcProofs.transactionConfirmationsInOneEpochData
const twoEpochs = tbtcProofs.transactionConfirmationsInTwoEpochsData
const verify = (p: SpvProof, o: Partial<Parameters<typeof verifySpvProof>[1]> = {}) =>
  verifySpvProof(p, { params: MAINNET, requireCoinbase: true, ...o })
const reason = (p: SpvProof, o: Partial<Parameters<typeof verifySpvProof>[1]> = {}) => {
  const r = verify(p, o)
  return r.valid ? 'VALID' : r.reason
}
const edit = (b: Uint8Array, at: number, value: number) => {
  const c = Uint8Array.from(b)
  c[at] = value
  return c
}

describe('SPV proofs, real mainnet data', () => {
  it('accepts the one-epoch payout proof with its coinbase, 6 confirmations, at the epoch bits', () => {
    const r = verify(tbtcProof(oneEpoch), { expectedBits: 0x17073039, minConfirmations: 6 })
    expect(r.valid && [r.txid, r.confirmations]).toEqual([oneEpoch.transaction.transactionHash, 6])
    expect(r.valid && r.blockHash).toBe(toDisplayHex(sha256d(bytes(oneEpoch.headersChain).slice(0, 80))))
    expect(r.valid && r.work).toBe(6n * workOf(bitsToTarget(0x17073039)!))
  })

  it('accepts a proof whose headers cross a retarget', () => {
    const r = verify(tbtcProof(twoEpochs), { minConfirmations: 6 })
    expect(r.valid && r.txid).toBe(twoEpochs.transaction.transactionHash)
    expect(new Set(twoEpochs.derived.headers.map((h) => h.bits)).size).toBe(2)
  })

  it('takes the txid from the witness-stripped transaction', () => {
    const tx = Transaction.fromBuffer(tbtcProof(twoEpochs).tx)
    tx.ins[0]!.witness = [bytes('30'.repeat(71)), bytes('02'.repeat(33))]
    const withWitness = Uint8Array.from(tx.toBuffer())
    expect(withWitness.length).toBeGreaterThan(tbtcProof(twoEpochs).tx.length)
    const r = verify({ ...tbtcProof(twoEpochs), tx: withWitness })
    expect(r.valid && r.txid).toBe(twoEpochs.transaction.transactionHash)
  })

  it("accepts summa's proof and refuses each of its corrupted copies", () => {
    expect(reason(summaValid, { requireCoinbase: false })).toBe('VALID')
    expect(reason(summaValid)).toBe('COINBASE_PROOF_REQUIRED')
    const expected: Record<string, string> = {
      'Bad Vin': 'BAD_TX',
      'Bad Vout': 'BAD_TX',
      'Bad TxID': 'MERKLE_MISMATCH',
      'Bad Header -- Merkle Proof': 'MERKLE_MISMATCH',
    }
    expect(summaBad.map((b) => b.comment).sort()).toEqual(Object.keys(expected).sort())
    for (const b of summaBad)
      expect([b.comment, reason(b.proof, { requireCoinbase: false })]).toEqual([
        b.comment,
        expected[b.comment],
      ])
  })

  it('refuses each corruption of the one-epoch proof with its own code', () => {
    const p = tbtcProof(oneEpoch)
    const last = p.headers.length - 1
    const cases: [string, SpvProof, Partial<Parameters<typeof verifySpvProof>[1]>, string][] = [
      [
        'a header one byte long',
        { ...p, headers: [...p.headers.slice(0, last), Uint8Array.from([...p.headers[last]!, 0])] },
        {},
        'BAD_HEADER_LENGTH',
      ],
      [
        'too few confirmations',
        { ...p, headers: p.headers.slice(0, 5) },
        { minConfirmations: 6 },
        'NOT_ENOUGH_CONFIRMATIONS',
      ],
      ['an empty branch', { ...p, merkle: [] }, {}, 'BAD_MERKLE_INDEX'],
      [
        'a sibling changed',
        { ...p, merkle: p.merkle.map((m, i) => (i === 3 ? edit(m, 31, 0xff) : m)) },
        {},
        'MERKLE_MISMATCH',
      ],
      [
        "the last header's parent replaced",
        {
          ...p,
          headers: p.headers.map((h, i) =>
            i === last
              ? Uint8Array.from([...h.slice(0, 4), ...new Uint8Array(32).fill(0xff), ...h.slice(36)])
              : h,
          ),
        },
        {},
        'BAD_LINK',
      ],
      [
        "the last header's nonce + 1",
        { ...p, headers: p.headers.map((h, i) => (i === last ? edit(h, 76, (h[76]! + 1) & 0xff) : h)) },
        {},
        'INSUFFICIENT_POW',
      ],
      ["another epoch's bits expected", p, { expectedBits: 0x170689a3 }, 'UNEXPECTED_BITS'],
      ['an index beyond the tree', { ...p, txIndex: 2 ** p.merkle.length }, {}, 'BAD_MERKLE_INDEX'],
      ['the wrong index', { ...p, txIndex: p.txIndex + 1 }, {}, 'MERKLE_MISMATCH'],
      [
        'a coinbase branch of another depth',
        { ...p, coinbaseMerkle: p.coinbaseMerkle!.slice(1) },
        {},
        'COINBASE_DEPTH_MISMATCH',
      ],
      ['a coinbase that is not one', { ...p, coinbase: p.tx }, {}, 'BAD_COINBASE'],
      [
        'a coinbase branch that does not fold to the root',
        { ...p, coinbaseMerkle: p.coinbaseMerkle!.map((m, i) => (i === 0 ? edit(m, 0, m[0]! ^ 1) : m)) },
        {},
        'BAD_COINBASE',
      ],
      ['garbage for a transaction', { ...p, tx: bytes('deadbeef') }, {}, 'BAD_TX'],
      ['a transaction with trailing bytes', { ...p, tx: Uint8Array.from([...p.tx, 0]) }, {}, 'BAD_TX'],
    ]
    for (const [what, proof, o, code] of cases) expect([what, reason(proof, o)]).toEqual([what, code])
  })

  it('refuses a 64-byte transaction, which could be an inner Merkle node', () => {
    const tx = new Transaction()
    tx.addInput(new Uint8Array(32).fill(7), 0)
    tx.addOutput(bytes('51515151'), 1000n)
    expect(tx.byteLength(false)).toBe(64)
    expect(reason({ ...tbtcProof(oneEpoch), tx: Uint8Array.from(tx.toBuffer()) })).toBe('TX_64_BYTES')
  })
})

describe('Merkle branches and duplicated leaves (CVE-2012-2459)', () => {
  // Three transactions: the last level-0 node is paired with itself.
  const [a, b, c] = ['a', 'b', 'c'].map((x) => sha256d(Buffer.from(x)))
  const ab = sha256d(Buffer.concat([a!, b!]))
  const cc = sha256d(Buffer.concat([c!, c!]))
  const root = sha256d(Buffer.concat([ab, cc]))

  it('accepts the genuine last node of an odd level, paired with itself', () => {
    expect(verifyMerkleBranch(c!, [c!, ab], 2, root)).toBeUndefined()
    expect(verifyMerkleBranch(a!, [b!, cc], 0, root)).toBeUndefined()
  })

  it('refuses the phantom copy at the next index', () => {
    expect(verifyMerkleBranch(c!, [c!, ab], 3, root)).toBe('PHANTOM_DUPLICATE')
  })

  it('refuses an index the branch depth cannot hold, and short nodes', () => {
    expect(verifyMerkleBranch(c!, [c!, ab], 4, root)).toBe('BAD_MERKLE_INDEX')
    expect(verifyMerkleBranch(c!, [c!.slice(1), ab], 2, root)).toBe('BAD_MERKLE_NODE')
  })
})

const rawOf = (entries: { hex: string }[]) => entries.map((e) => bytes(e.hex))

describe('header chains, real mainnet data', () => {
  it('accepts 198 headers across the 741888 retarget, with and without the height', () => {
    const chain = rawOf(longHeaders.chain)
    expect(verifyHeaderChain(chain, { params: MAINNET })).toMatchObject({ valid: true })
    const r = verifyHeaderChain(chain, { params: MAINNET, height: longHeaders.chain[0]!.height })
    expect(r.valid && r.headers.length).toBe(198)
    // The same change placed one block early is not at an epoch boundary.
    expect(verifyHeaderChain(chain, { params: MAINNET, height: longHeaders.chain[0]!.height + 1 })).toEqual({
      valid: false,
      reason: 'UNEXPECTED_BITS',
      index: 95,
    })
  })

  it("computes each real retarget exactly from the epoch's first and last timestamps", () => {
    const h = (hex: string) =>
      parseHeader(bytes(hex), MAINNET) as Exclude<ReturnType<typeof parseHeader>, string>
    for (const {
      input: [first, last, next],
    } of summaVectors.retargetAlgorithm) {
      expect(nextEpochBits(h(last!.hex).bits, h(first!.hex).time, h(last!.hex).time, MAINNET)).toBe(
        h(next!.hex).bits,
      )
    }
    const cases = [
      [longHeaders.epochStart, longHeaders.chain[94]!, longHeaders.chain[95]!],
      [headersWithRetarget.oldPeriodStart, headersWithRetarget.chain[8]!, headersWithRetarget.chain[9]!],
      [headersReorg.oldPeriodStart, headersReorg.preRetargetChain[4]!, headersReorg.postRetargetChain[0]!],
    ]
    for (const [first, last, next] of cases)
      expect(nextEpochBits(h(last!.hex).bits, h(first!.hex).time, h(last!.hex).time, MAINNET)).toBe(
        h(next!.hex).bits,
      )
  })

  it('accepts the 554400 and 437472 retarget chains and refuses the one with a stale block', () => {
    expect(
      verifyHeaderChain(rawOf([headersWithRetarget.genesis, ...headersWithRetarget.chain]), {
        params: MAINNET,
        height: headersWithRetarget.genesis.height,
      }),
    ).toMatchObject({ valid: true })
    const main = [headersReorg.genesis, ...headersReorg.preRetargetChain, ...headersReorg.postRetargetChain]
    expect(
      verifyHeaderChain(rawOf(main), { params: MAINNET, height: headersReorg.genesis.height }),
    ).toMatchObject({ valid: true })
    const withOrphan = main.map((e) => (e.height === 437478 ? headersReorg.orphan_437478 : e))
    expect(verifyHeaderChain(rawOf(withOrphan), { params: MAINNET })).toEqual({
      valid: false,
      reason: 'BAD_LINK',
      index: withOrphan.length - 1,
    })
  })

  it("agrees with summa's header-chain vectors", () => {
    const split = (hex: string) => {
      const b = bytes(hex)
      return Array.from({ length: Math.ceil(b.length / 80) }, (_, i) => b.slice(i * 80, i * 80 + 80))
    }
    const ok = verifyHeaderChain(split(summaVectors.validateHeaderChain[0]!.input), { params: MAINNET })
    expect(ok.valid && ok.headers.length).toBe(7)
    // summa's figure is the sum of difficulties: recomputed from the bits this verifier decoded.
    expect(ok.valid && ok.headers.reduce((s, h) => s + (0xffffn << 208n) / h.target, 0n)).toBe(
      BigInt(summaVectors.validateHeaderChain[0]!.output),
    )
    const [short, unlinked, lowWork] = summaVectors.validateHeaderChainError.map((c) => split(c.input))
    expect(verifyHeaderChain(short!, { params: MAINNET })).toMatchObject({
      valid: false,
      reason: 'BAD_HEADER_LENGTH',
    })
    expect(verifyHeaderChain(unlinked!, { params: MAINNET })).toEqual({
      valid: false,
      reason: 'BAD_LINK',
      index: 1,
    })
    // Synthetic headers at bits 0x1f00ffff: above mainnet's limit, and the third short of its own target under regtest's.
    expect(verifyHeaderChain(lowWork!, { params: MAINNET })).toEqual({
      valid: false,
      reason: 'BAD_BITS',
      index: 0,
    })
    expect(verifyHeaderChain(lowWork!, { params: REGTEST })).toEqual({
      valid: false,
      reason: 'INSUFFICIENT_POW',
      index: 2,
    })
  })
})

describe('compact targets', () => {
  it('round-trips every real bits value and refuses negative, overflowing and zero ones', () => {
    for (const bits of [0x1d00ffff, 0x17073039, 0x170689a3, 0x17094b6a, 0x1731d97c, 0x207fffff])
      expect(targetToBits(bitsToTarget(bits)!)).toBe(bits)
    expect(bitsToTarget(0x1d00ffff)).toBe(0xffffn << 208n)
    expect(bitsToTarget(0x04923456)).toBeUndefined() // sign bit set
    expect(bitsToTarget(0x23000001)).toBeUndefined() // more than 256 bits
    expect(bitsToTarget(0x1d000000)).toBeUndefined()
  })
})

describe('a full epoch, mined here at an easy target', () => {
  // No public vector holds a whole epoch plus the next header, so the exact retarget check runs on a chain mined for it.
  const EASY: BitcoinNetworkParams = { powLimit: (1n << 255n) - 1n, noRetargeting: false }
  function mine(prev: Uint8Array, time: number, bits: number): Uint8Array {
    const target = bitsToTarget(bits)!
    for (let nonce = 0; ; nonce++) {
      const h = Buffer.alloc(80)
      h.writeUInt32LE(0x20000000, 0)
      Buffer.from(prev).copy(h, 4)
      h.writeUInt32LE(time, 68)
      h.writeUInt32LE(bits, 72)
      h.writeUInt32LE(nonce, 76)
      if (BigInt(`0x${toDisplayHex(sha256d(h))}`) <= target) return Uint8Array.from(h)
    }
  }
  const startBits = 0x207fffff
  const chain: Uint8Array[] = []
  let prev: Uint8Array = new Uint8Array(32)
  for (let i = 0; i < 2016; i++) {
    chain.push(mine(prev, 1_700_000_000 + i * 300, startBits))
    prev = sha256d(chain.at(-1)!)
  }
  // Blocks came every 5 minutes instead of 10: the next target halves.
  const exact = nextEpochBits(startBits, 1_700_000_000, 1_700_000_000 + 2015 * 300, EASY)

  it('checks the retarget exactly when the chain holds the whole epoch before it', () => {
    expect(bitsToTarget(exact)).toBe(
      bitsToTarget(targetToBits((bitsToTarget(startBits)! * 2015n * 300n) / 1_209_600n)),
    )
    const good = [...chain, mine(prev, 1_700_000_000 + 2016 * 300, exact)]
    expect(verifyHeaderChain(good, { params: EASY, height: 0 })).toMatchObject({ valid: true })
    // Inside the clamp, but not what the epoch's timestamps give.
    const off = [
      ...chain,
      mine(prev, 1_700_000_000 + 2016 * 300, targetToBits((bitsToTarget(exact)! * 3n) / 2n)),
    ]
    expect(verifyHeaderChain(off, { params: EASY, height: 0 })).toEqual({
      valid: false,
      reason: 'BAD_RETARGET',
      index: 2016,
    })
    // Missing the epoch's first header, the same change is only held to the clamp.
    expect(verifyHeaderChain(off.slice(1), { params: EASY, height: 1 })).toMatchObject({ valid: true })
    const beyondClamp = [
      ...chain.slice(1),
      mine(prev, 1_700_000_000 + 2016 * 300, targetToBits(bitsToTarget(startBits)! / 5n)),
    ]
    expect(verifyHeaderChain(beyondClamp, { params: EASY, height: 1 })).toEqual({
      valid: false,
      reason: 'BAD_RETARGET',
      index: 2015,
    })
  })
})
