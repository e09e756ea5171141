import { decodeEventLog, getAddress, toEventSelector, type Address, type Log } from 'viem'
import type { ChainId } from '../../src/caip2.js'
import type { ChainEvent } from '../../src/chains.js'
import { QantaraError } from '../../src/errors.js'
import { qantaraEscrowAbi } from './contracts/artifacts/QantaraEscrow.js'
import { gpuOfWord, tokenName } from './codec.js'

/** Escrow events the watcher turns into ChainEvents; the others (payments, claims) are the payees' business. */
export const WATCHED_EVENTS = [
  'OrderOpened',
  'BtcPayoutRequested',
  'OrderSettled',
  'OrderReclaimed',
  'RelayerSetUpdated',
  'BtcPayoutProved',
  'BtcPayoutFallback',
] as const

/**
 * Decodes one escrow log. A log from another address or with bytes that do
 * not decode is a bad RPC answer, not an event: it raises RPC_BAD_RESPONSE.
 * Keys are semantic (one OrderOpened per order id), so a log served twice is
 * stored once.
 */
export function decodeEscrowLog(chain: ChainId, escrow: Address, log: Log): ChainEvent | undefined {
  if (getAddress(log.address) !== escrow) {
    throw new QantaraError('RPC_BAD_RESPONSE', `log from ${log.address}, not the escrow ${escrow}`, {
      retryable: true,
    })
  }
  if (log.blockNumber === null || log.blockHash === null || log.transactionHash === null) {
    throw new QantaraError('RPC_BAD_RESPONSE', 'pending log returned for a confirmed range', {
      retryable: true,
    })
  }
  let decoded
  try {
    decoded = decodeEventLog({ abi: qantaraEscrowAbi, data: log.data, topics: log.topics, strict: true })
  } catch (cause) {
    throw new QantaraError(
      'EVENT_MALFORMED',
      `escrow log ${log.transactionHash}:${log.logIndex} does not decode`,
      { cause, retryable: true },
    )
  }
  const base = { chain, block: { height: log.blockNumber, hash: log.blockHash }, txHash: log.transactionHash }
  switch (decoded.eventName) {
    case 'OrderOpened': {
      const a = decoded.args
      return {
        ...base,
        kind: 'OrderOpened',
        key: `OrderOpened:${a.orderId}`,
        order: {
          id: a.orderId,
          chain,
          renter: a.renter,
          token: tokenName(a.token),
          amount: a.amount,
          providerId: a.providerId,
          payout: a.payout,
          start: a.start,
          slotLength: a.slotLength,
          slots: a.slots,
          gpu: gpuOfWord(a.gpu),
        },
      }
    }
    case 'OrderSettled': {
      const a = decoded.args
      return {
        ...base,
        kind: 'OrderSettled',
        key: `OrderSettled:${a.orderId}`,
        orderId: a.orderId,
        settlement: {
          orderId: a.orderId,
          toProvider: a.toProvider,
          toRenter: a.toRenter,
          fee: a.fee,
          feeRecipient: a.feeRecipient,
          upSlots: a.upSlots,
          totalSlots: a.totalSlots,
          heartbeatRoot: a.heartbeatRoot,
        },
      }
    }
    case 'OrderReclaimed':
      return {
        ...base,
        kind: 'OrderReclaimed',
        key: `OrderReclaimed:${decoded.args.orderId}`,
        orderId: decoded.args.orderId,
        amount: decoded.args.amount,
      }
    case 'RelayerSetUpdated': {
      const a = decoded.args
      return {
        ...base,
        kind: 'RelayerSetUpdated',
        key: `RelayerSetUpdated:${a.version}`,
        version: a.version,
        members: [...a.members],
        threshold: a.threshold,
      }
    }
    case 'BtcPayoutProved': {
      const a = decoded.args
      // The event carries the txid in internal byte order; people and nodes use the reverse.
      const btcTxid = Buffer.from(a.btcTxid.slice(2), 'hex').reverse().toString('hex')
      return {
        ...base,
        kind: 'BtcPayoutProved',
        key: `BtcPayoutProved:${a.orderId}`,
        orderId: a.orderId,
        btcTxid,
        sats: a.sats,
      }
    }
    case 'BtcPayoutFallback':
      return {
        ...base,
        kind: 'BtcPayoutFallback',
        key: `BtcPayoutFallback:${decoded.args.orderId}`,
        orderId: decoded.args.orderId,
      }
    default:
      return undefined
  }
}

/**
 * Decodes a range's logs in order. An order paid in BTC opens with two logs in
 * one transaction, OrderOpened then BtcPayoutRequested; they become one
 * OrderOpened whose terms carry the solver's quote.
 */
export function decodeEscrowLogs(chain: ChainId, escrow: Address, logs: Log[]): ChainEvent[] {
  const events: ChainEvent[] = []
  for (const log of logs) {
    const terms = getAddress(log.address) === escrow ? decodeBtcTerms(log) : undefined
    if (terms) {
      const opened = events.findLast(
        (e) => e.kind === 'OrderOpened' && e.order.id === terms.orderId && e.txHash === log.transactionHash,
      )
      if (!opened || opened.kind !== 'OrderOpened')
        throw new QantaraError(
          'EVENT_MALFORMED',
          `BtcPayoutRequested for ${terms.orderId} without its OrderOpened`,
          { retryable: true },
        )
      opened.order.btc = terms.btc
      continue
    }
    const event = decodeEscrowLog(chain, escrow, log)
    if (event) events.push(event)
  }
  return events
}

const BTC_TERMS_TOPIC = toEventSelector(
  qantaraEscrowAbi.find((i) => i.type === 'event' && i.name === 'BtcPayoutRequested')!,
)

function decodeBtcTerms(log: Log) {
  if (log.topics[0] !== BTC_TERMS_TOPIC) return undefined
  let decoded
  try {
    decoded = decodeEventLog({
      abi: qantaraEscrowAbi,
      eventName: 'BtcPayoutRequested',
      data: log.data,
      topics: log.topics,
      strict: true,
    })
  } catch {
    return undefined
  }
  const a = decoded.args
  return {
    orderId: a.orderId,
    btc: {
      script: a.script.slice(2).toLowerCase(),
      solver: a.solver,
      satsPerE18: a.satsPerE18,
      payoutDeadline: a.payoutDeadline,
      maxAmount: a.maxAmount,
      openBy: a.openBy,
      latestEnd: a.latestEnd,
    },
  }
}
