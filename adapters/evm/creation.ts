import { getAddress, isAddressEqual, type Address, type Hex, type PublicClient } from 'viem'

/** How far before the escrow's block a light relay's creation is looked for when no transaction names it. */
const RELAY_SEARCH_BLOCKS = 8n

/**
 * The transaction that created the contract at `at`: the one `hash` names
 * (a deployment record's, checked here, never trusted), else one of those in
 * `blocks`. A contract's code says what it runs, but only its creation says
 * what its constructor wrote: the same code can be put on chain by any other
 * creation code, over storage of its author's choosing.
 */
export async function creationOf(
  c: PublicClient,
  at: Address,
  o: { hash?: Hex; blocks: readonly bigint[] },
): Promise<{ input: Hex; from: Address; block: bigint } | undefined> {
  const created = async (hash: Hex) => {
    const [tx, receipt] = await Promise.all([
      c.getTransaction({ hash }).catch(() => undefined),
      c.getTransactionReceipt({ hash }).catch(() => undefined),
    ])
    return tx &&
      receipt?.status === 'success' &&
      tx.to === null &&
      receipt.contractAddress &&
      isAddressEqual(receipt.contractAddress, at)
      ? { input: tx.input, from: getAddress(tx.from), block: receipt.blockNumber }
      : undefined
  }
  if (o.hash) {
    const found = await created(o.hash)
    if (found) return found
  }
  for (const blockNumber of o.blocks) {
    if (blockNumber < 0n) continue
    const block = await c.getBlock({ blockNumber, includeTransactions: true })
    for (const tx of block.transactions) {
      if (tx.to !== null) continue
      const found = await created(tx.hash)
      if (found) return found
    }
  }
  return undefined
}

/** The blocks a light relay's creation is looked for in: the escrow's, and those just before it. */
export function relaySearchBlocks(escrowBlock: bigint): bigint[] {
  return Array.from({ length: Number(RELAY_SEARCH_BLOCKS) }, (_, i) => escrowBlock - BigInt(i))
}
