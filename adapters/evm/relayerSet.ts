import {
  createPublicClient,
  createWalletClient,
  fallback,
  getAddress,
  http,
  isAddress,
  recoverTypedDataAddress,
  type Address,
  type Hex,
  type LocalAccount,
} from 'viem'
import type {
  RelayerSet,
  RelayerSetApplied,
  RelayerSetApproval,
  RelayerSetTool,
} from '../../src/relayerSet.js'
import { QantaraError } from '../../src/errors.js'
import { viemChain } from './chain.js'
import { qantaraEscrowAbi } from './contracts/artifacts/QantaraEscrow.js'
import type { EvmChainConfig } from './config.js'
import {
  escrowDomain,
  packSignatures,
  relayerSetUpdateTypes,
  signRelayerSetUpdate,
  sortAddresses,
} from './eip712.js'
import { revertReason } from './submitter.js'

const refused = (message: string) => new QantaraError('ROTATION_REFUSED', message)

/** Rotation of the escrow's relayer set: EIP-712 approvals over the next version, applied with `rotateRelayers`. */
export function evmRelayerSetTool(c: EvmChainConfig, account: LocalAccount): RelayerSetTool {
  const chain = viemChain(c.id, c.rpc, c.name)
  const transport = fallback(c.rpc.map((url) => http(url, { timeout: c.rpcTimeoutMs, retryCount: 1 })))
  const client = createPublicClient({ chain, transport })
  const wallet = createWalletClient({ chain, transport, account })
  const escrow = getAddress(c.escrow)
  const domain = { chainId: chain.id, escrow }

  async function current(): Promise<RelayerSet> {
    const [version, members, threshold] = await client.readContract({
      address: escrow,
      abi: qantaraEscrowAbi,
      functionName: 'relayerSet',
    })
    return { version, members: [...members], threshold }
  }

  return {
    chain: c.id as RelayerSetApproval['chain'],
    current,
    async approve(members, threshold) {
      for (const m of members)
        if (!isAddress(m, { strict: false })) throw refused(`member ${m} is not an EVM address`)
      const sorted = sortAddresses(members as Address[])
      if (new Set(sorted).size !== sorted.length) throw refused('a member is listed twice')
      if (!Number.isInteger(threshold) || threshold < 1 || threshold > sorted.length)
        throw refused(`threshold ${threshold} must be between 1 and the ${sorted.length} members`)
      const update = { version: (await current()).version + 1n, members: sorted, threshold }
      return {
        chain: c.id as RelayerSetApproval['chain'],
        update,
        signer: account.address,
        signature: await signRelayerSetUpdate(account, domain, update),
      }
    },
    async apply(approvals): Promise<RelayerSetApplied> {
      const first = approvals[0]
      if (!first) throw refused('no approvals given')
      for (const a of approvals) {
        if (a.chain !== c.id) throw refused(`an approval is for ${a.chain}, not ${c.id}`)
        if (!sameSet(a.update, first.update))
          throw refused(`approvals are for different proposals (one from ${a.signer})`)
      }
      const update = {
        version: first.update.version,
        members: first.update.members.map((m) => getAddress(m)),
        threshold: first.update.threshold,
      }
      const now = await current()
      if (now.version >= update.version) {
        // The version was consumed: by this proposal (a repeat is fine) or by another one (these approvals are stale).
        if (sameSet(now, update)) return { status: 'already-applied' }
        throw refused(
          `the relayer set is already at version ${now.version}; approve the proposal again against it`,
        )
      }
      if (update.version !== now.version + 1n)
        throw refused(`approvals are for version ${update.version}, the next version is ${now.version + 1n}`)
      const signed: { signer: Address; signature: Hex }[] = []
      for (const a of approvals) {
        const signer = await recoverTypedDataAddress({
          domain: escrowDomain(domain),
          types: relayerSetUpdateTypes,
          primaryType: 'RelayerSetUpdate',
          message: update,
          signature: a.signature as Hex,
        }).catch(() => undefined)
        if (!signer || signer !== getAddress(a.signer))
          throw refused(`the approval from ${a.signer} is not signed by that key`)
        if (now.members.includes(signer) && !signed.some((s) => s.signer === signer))
          signed.push({ signer, signature: a.signature as Hex })
      }
      if (signed.length < now.threshold)
        throw refused(`${signed.length} approvals from current members; the set needs ${now.threshold}`)
      const args = [update.members, update.threshold, packSignatures(signed)] as const
      try {
        const { request } = await client.simulateContract({
          account,
          address: escrow,
          abi: qantaraEscrowAbi,
          functionName: 'rotateRelayers',
          args,
        })
        const hash = await wallet.writeContract(request)
        const receipt = await client.waitForTransactionReceipt({
          hash,
          confirmations: c.submitter.receiptConfirmations,
        })
        if (receipt.status !== 'success') throw refused(`rotateRelayers ${hash} reverted`)
        return { status: 'applied', txHash: hash }
      } catch (err) {
        const reason = revertReason(err)
        // Another operator applied the same proposal while ours was in flight.
        if (reason && (await current()).version >= update.version) return this.apply(approvals)
        if (reason)
          throw new QantaraError('SUBMIT_REVERTED', `rotateRelayers would revert with ${reason}`, {
            cause: err,
            context: { revert: reason },
          })
        throw err
      }
    },
  }
}

function sameSet(a: RelayerSet, b: RelayerSet): boolean {
  return (
    a.version === b.version &&
    a.threshold === b.threshold &&
    a.members.length === b.members.length &&
    a.members.every((m, i) => getAddress(m) === getAddress(b.members[i]!))
  )
}
