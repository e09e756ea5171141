import { throwIfAborted } from '../../src/abort.js'
import { QantaraError } from '../../src/errors.js'
import { EPOCH_BLOCKS, type BitcoinNetworkParams } from './header.js'
import { verifyHeaderChain } from './headerChain.js'
import type { BitcoinChainSource } from './source.js'

/**
 * The `2 × proofLength` headers around the start of epoch `epoch + 1`, once
 * the last is `confirmations` deep (a shallower retarget could be orphaned),
 * checked here as the relay will check them: linked, each meeting its target,
 * and the bits changing at the boundary within the ×4 clamp.
 */
export async function retargetHeaders(
  source: BitcoinChainSource,
  params: BitcoinNetworkParams,
  epoch: bigint,
  proofLength: number,
  confirmations: number,
  signal?: AbortSignal,
): Promise<Uint8Array[] | undefined> {
  const boundary = Number(epoch + 1n) * EPOCH_BLOCKS
  const first = boundary - proofLength
  const last = boundary + proofLength - 1
  if ((await source.getBlockCount()) < last + confirmations - 1) return undefined
  const headers: Uint8Array[] = []
  for (let h = first; h <= last; h++) {
    throwIfAborted(signal)
    headers.push(
      Uint8Array.from(Buffer.from(await source.getBlockHeaderHex(await source.getBlockHash(h)), 'hex')),
    )
  }
  const checked = verifyHeaderChain(headers, { params, height: first })
  if (!checked.valid)
    throw new QantaraError(
      'RPC_BAD_RESPONSE',
      `the headers ${first}–${last} the source gave do not verify: ${checked.reason} at ${first + checked.index}`,
      { retryable: true },
    )
  return headers
}
