import { getAddress, isAddress, type Hex } from 'viem'
import type { EscrowChainRuntime, SettlementSignature } from '../../src/chains.js'
import type { RpcObserver } from '../../src/http/endpointFailover.js'
import type { Logger } from '../../src/log.js'
import { NATIVE_TOKEN, type BtcPayoutTerms } from '../../src/order.js'
import type { Store } from '../../src/store/store.js'
import type { LocalAccount } from 'viem'
import { evmBtcRelayFeed } from './btcRelayFeed.js'
import { viemChain } from './chain.js'
import { tokenAddress, toEvmBtcPayout, toEvmSettlement } from './codec.js'
import type { EvmChainConfig } from './config.js'
import {
  compareAddresses,
  isEscrowSignatureForm,
  recoverSettlementSigner,
  btcQuoteFor,
  signBtcQuote,
  escrowDomain,
  settlementTypes,
  signSettlement,
} from './eip712.js'
import { RpcPool } from './rpcPool.js'
import { EvmSubmitter } from './submitter.js'
import { EvmWatcher } from './watcher.js'

/** Wires one configured EVM chain: watcher, EIP-712 signer and submitter over one RPC pool. */
export function evmRuntime(
  c: EvmChainConfig,
  account: LocalAccount,
  members: ReadonlyMap<string, string>,
  store: Store,
  logger: Logger,
  observeRpc?: RpcObserver,
): EscrowChainRuntime {
  const chain = viemChain(c.id, c.rpc, c.name)
  const pool = new RpcPool({
    chain,
    urls: c.rpc,
    timeoutMs: c.rpcTimeoutMs,
    logger,
    ...(observeRpc ? { observe: observeRpc } : {}),
  })
  const escrow = getAddress(c.escrow)
  const domain = { chainId: chain.id, escrow }
  const watcher = watcherOn(c, pool, logger)
  const submitter = new EvmSubmitter({
    chain: c.id as `eip155:${string}`,
    pool,
    escrow,
    account,
    store,
    logger,
    receiptConfirmations: c.submitter.receiptConfirmations,
    bumpAfterMs: c.submitter.bumpAfterMs,
    caps: {
      maxFeePerGas: c.submitter.maxFeePerGasWei,
      maxPriorityFeePerGas: c.submitter.maxPriorityFeePerGasWei,
    },
    pollMs: Math.min(1_000, c.pollIntervalMs),
    maxSettlementGas: c.submitter.maxSettlementGas,
  })
  return {
    chain: watcher.chain,
    kind: 'escrow',
    watcher,
    async funds() {
      const balance = await pool.run((client) => client.getBalance({ address: account.address }), 'balance')
      const one = c.submitter.maxSettlementGas * c.submitter.maxFeePerGasWei
      // A zero fee cap settles for nothing, or not at all: either way, no count of settlements runs out.
      return {
        account: account.address,
        settlements: one === 0n ? Number.POSITIVE_INFINITY : Number(balance / one),
      }
    },
    feeRecipient: c.feeRecipient ?? '',
    maxLag: BigInt(c.maxLagBlocks ?? c.confirmations + 10),
    pollIntervalMs: c.pollIntervalMs,
    ...(c.tokens
      ? {
          minAmounts: new Map(
            Object.entries(c.tokens).map(([token, min]) => [
              token === 'native' ? NATIVE_TOKEN : getAddress(token),
              min,
            ]),
          ),
        }
      : {}),
    async signSettlement(_order, settlement): Promise<SettlementSignature> {
      return {
        signer: account.address,
        signature: await signSettlement(account, domain, toEvmSettlement(settlement)),
      }
    },
    settlementStatement: (settlement) => ({
      scheme: 'eip712',
      typedData: {
        domain: escrowDomain(domain),
        types: settlementTypes,
        primaryType: 'Settlement',
        message: toEvmSettlement(settlement),
      },
    }),
    async verifySettlementSignature(_order, settlement, relayerId, sig) {
      const expected = members.get(relayerId)
      // The signer must be in checksummed form: the core matches it against the chain's relayer set as a string.
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
            await recoverSettlementSigner(domain, toEvmSettlement(settlement), sig.signature as Hex),
          ) === getAddress(expected)
        )
      } catch {
        return false
      }
    },
    submitSettlement(order, settlement, signatures, signal) {
      const sorted = [...signatures].sort((a, b) =>
        compareAddresses(getAddress(a.signer), getAddress(b.signer)),
      )
      return submitter.submit(
        order,
        settlement,
        { signatures: sorted.map((s) => s.signature as Hex) },
        signal,
      )
    },
    btcPayouts: {
      prove: (order, toProvider, proof, signal) => submitter.proveBtcPayout(order, toProvider, proof, signal),
      claimFallback: (order, toProvider, signal) => submitter.claimBtcFallback(order, toProvider, signal),
      relay: evmBtcRelayFeed({ pool, domain, submitter, account, members }),
    },
  }
}

/** A watcher alone, for a process that reads the escrow but settles nothing (the solver). */
export function evmWatcher(c: EvmChainConfig, logger: Logger): EvmWatcher {
  return watcherOn(
    c,
    new RpcPool({ chain: viemChain(c.id, c.rpc, c.name), urls: c.rpc, timeoutMs: c.rpcTimeoutMs, logger }),
    logger,
  )
}

function watcherOn(c: EvmChainConfig, pool: RpcPool, logger: Logger): EvmWatcher {
  return new EvmWatcher({
    chain: c.id as `eip155:${string}`,
    pool,
    escrow: getAddress(c.escrow),
    startBlock: c.startBlock,
    confirmations: c.confirmations,
    logRange: c.logRange,
    logger,
  })
}

/** Signs the solver's quote for one order id and token (`native` or an address), as `openBtc` checks it. */
export function evmQuoteSigner(c: EvmChainConfig, account: LocalAccount) {
  const domain = { chainId: Number(c.id.split(':')[1]), escrow: getAddress(c.escrow) }
  return (q: { orderId: string; token: string } & Omit<BtcPayoutTerms, 'solver'>): Promise<string> =>
    signBtcQuote(
      account,
      domain,
      btcQuoteFor(q.orderId as Hex, tokenAddress(q.token), toEvmBtcPayout({ ...q, solver: account.address })),
    )
}
