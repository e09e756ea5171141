import { readFileSync } from 'node:fs'
import type { SpvProof } from '../adapters/bitcoin/spvProof.js'

// Read from the sources' fixtures both when run as TypeScript (tests) and from dist/ (benchmarks).
const dir = new URL(
  import.meta.url.endsWith('.ts') ? '../test/fixtures/bitcoin/' : '../../test/fixtures/bitcoin/',
  import.meta.url,
)
const fixture = <T>(name: string): T => JSON.parse(readFileSync(new URL(name, dir), 'utf8')) as T

export const bytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex.replace(/^0x/, ''), 'hex'))
const reversed = (hex: string): Uint8Array => bytes(hex).reverse()

interface TbtcProof {
  transaction: { transactionHash: string }
  headersChain: string
  transactionMerkleBranch: { blockHeight: number; merkle: string[]; position: number }
  coinbaseRawTransaction: { transactionHex: string }
  coinbaseMerkleBranch: { merkle: string[] }
  derived: { rawTransactionStripped: string; headers: { height: number; bits: number }[] }
}

export const tbtcProofs = fixture<{
  proofs: Record<
    'transactionConfirmationsInOneEpochData' | 'transactionConfirmationsInTwoEpochsData',
    TbtcProof
  >
}>('tbtc-mainnet-proofs.json').proofs

/** A tbtc mainnet export as this project's proof: branches turned from display order to internal order. */
export function tbtcProof(p: TbtcProof): SpvProof {
  const chain = bytes(p.headersChain)
  return {
    tx: bytes(p.derived.rawTransactionStripped),
    txIndex: p.transactionMerkleBranch.position,
    merkle: p.transactionMerkleBranch.merkle.map(reversed),
    headers: Array.from({ length: chain.length / 80 }, (_, i) => chain.slice(i * 80, i * 80 + 80)),
    coinbase: bytes(p.coinbaseRawTransaction.transactionHex),
    coinbaseMerkle: p.coinbaseMerkleBranch.merkle.map(reversed),
  }
}

export type HeaderEntry = { height: number; hex: string }
export const longHeaders = fixture<{ epochStart: HeaderEntry; chain: HeaderEntry[] }>('tbtc-longHeaders.json')
export const headersWithRetarget = fixture<{
  oldPeriodStart: HeaderEntry
  genesis: HeaderEntry
  chain: HeaderEntry[]
}>('tbtc-headersWithRetarget.json')
export const headersReorg = fixture<{
  orphan_437478: HeaderEntry
  oldPeriodStart: HeaderEntry
  genesis: HeaderEntry
  preRetargetChain: HeaderEntry[]
  postRetargetChain: HeaderEntry[]
}>('tbtc-headersReorgAndRetarget.json')

type SummaProofJson = {
  version: string
  vin: string
  vout: string
  locktime: string
  tx_id: string
  index: number
  intermediate_nodes: string
  confirming_header: { raw: string }
}
const summaProofs = fixture<{ valid: string[]; badSPVProofs: { comment: string; proof: SummaProofJson }[] }>(
  'summa-testProofs.json',
)

function summaProof(p: SummaProofJson): SpvProof {
  const nodes = bytes(p.intermediate_nodes)
  return {
    tx: bytes(
      p.version + p.vin.replace(/^0x/, '') + p.vout.replace(/^0x/, '') + p.locktime.replace(/^0x/, ''),
    ),
    txIndex: p.index,
    merkle: Array.from({ length: nodes.length / 32 }, (_, i) => nodes.slice(i * 32, i * 32 + 32)),
    headers: [bytes(p.confirming_header.raw)],
  }
}

export const summaValid = summaProof(JSON.parse(summaProofs.valid[0]!) as SummaProofJson)
export const summaBad = summaProofs.badSPVProofs.map((b) => ({
  comment: b.comment,
  proof: summaProof(b.proof),
}))

type SummaHeader = { hex: string; height: number }
export const summaVectors = fixture<{
  validateHeaderChain: { input: string; output: number }[]
  validateHeaderChainError: { input: string }[]
  retargetAlgorithm: { input: SummaHeader[]; output: number }[]
}>('summa-testVectors.json')
