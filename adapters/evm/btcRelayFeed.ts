import {
  concat,
  getAddress,
  isAddress,
  keccak256,
  toHex,
  zeroAddress,
  type Address,
  type Hex,
  type LocalAccount,
} from 'viem'
import type { BtcRelayFeed } from '../../src/chains.js'
import { btcLightRelayAbi } from './contracts/artifacts/BtcLightRelay.js'
import { qantaraEscrowAbi } from './contracts/artifacts/QantaraEscrow.js'
import {
  compareAddresses,
  isEscrowSignatureForm,
  recoverRelayRetargetSigner,
  signRelayRetarget,
  type EscrowDomain,
  type RelayRetarget,
} from './eip712.js'
import type { RpcPool } from './rpcPool.js'
import type { EvmSubmitter } from './submitter.js'

const MAINNET = 0

export interface EvmBtcRelayFeedOptions {
  pool: RpcPool
  domain: EscrowDomain
  submitter: EvmSubmitter
  /** This relayer's key, which approves retargets as it signs settlements. */
  account: LocalAccount
  /** Quorum member id → its EVM address, to check peers' approvals. */
  members: ReadonlyMap<string, string>
}

/**
 * The escrow's BtcLightRelay as the relayers feed it: each approves a
 * retarget's headers with its key (EIP-712 `RelayRetarget` under the escrow's
 * domain) and one posts them with a quorum's approvals to `retargetRelay`,
 * through the submitter, so retargets share its nonces and survive a crash.
 */
export function evmBtcRelayFeed(o: EvmBtcRelayFeedOptions): BtcRelayFeed {
  const { pool, domain, submitter, account, members } = o
  // The relay and its network are immutable: read once, again only after a failed read.
  let relay: Promise<{ address: Address; retargets: boolean }> | undefined
  const info = () =>
    (relay ??= pool
      .run(async (c) => {
        const address = await c.readContract({
          address: domain.escrow,
          abi: qantaraEscrowAbi,
          functionName: 'btcRelay',
        })
        if (address === zeroAddress) return { address, retargets: false }
        return {
          address,
          retargets:
            (await c.readContract({ address, abi: btcLightRelayAbi, functionName: 'network' })) === MAINNET,
        }
      }, 'btcRelay')
      .catch((err: unknown) => {
        relay = undefined
        throw err
      }))
  const retargetOf = async (epoch: bigint, headers: Uint8Array[]): Promise<RelayRetarget> => ({
    relay: (await info()).address,
    epoch,
    headersHash: keccak256(packHeaders(headers)),
  })
  return {
    async state() {
      const { address, retargets } = await info()
      if (!retargets) return undefined
      const [ready, epoch, proofLength] = await pool.run(
        (c) =>
          Promise.all([
            c.readContract({ address, abi: btcLightRelayAbi, functionName: 'ready' }),
            c.readContract({ address, abi: btcLightRelayAbi, functionName: 'currentEpoch' }),
            c.readContract({ address, abi: btcLightRelayAbi, functionName: 'proofLength' }),
          ]),
        'relay state',
      )
      return ready ? { epoch, proofLength: Number(proofLength) } : undefined
    },
    async approveRetarget(epoch, headers) {
      return {
        signer: account.address,
        signature: await signRelayRetarget(account, domain, await retargetOf(epoch, headers)),
      }
    },
    async verifyRetargetApproval(epoch, headers, relayerId, sig) {
      const expected = members.get(relayerId)
      if (
        !expected ||
        !isAddress(sig.signer) ||
        sig.signer !== getAddress(expected) ||
        !isEscrowSignatureForm(sig.signature)
      )
        return false
      try {
        return (
          getAddress(
            await recoverRelayRetargetSigner(domain, await retargetOf(epoch, headers), sig.signature as Hex),
          ) === getAddress(expected)
        )
      } catch {
        return false
      }
    },
    async retarget(epoch, headers, approvals, signal) {
      const sorted = [...approvals].sort((a, b) =>
        compareAddresses(getAddress(a.signer), getAddress(b.signer)),
      )
      return submitter.retarget(
        (await info()).address,
        epoch,
        packHeaders(headers),
        sorted.map((s) => s.signature as Hex),
        signal,
      )
    },
  }
}

function packHeaders(headers: Uint8Array[]): Hex {
  return concat(headers.map((h) => toHex(h)))
}
