import {
  TransactionReceiptNotFoundError,
  keccak256,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { QantaraError } from '../../src/errors.js'
import { escrowRefusal } from './deploy.js'

type Wallet = WalletClient<Transport, Chain, Account>

interface TxSenderOptions {
  wallet: Wallet
  publicClient: PublicClient
  log(line: string): void
  /** How long to wait for one transaction to be mined. */
  receiptTimeoutMs?: number
}

/** A transaction this deployment signed: recorded before it is sent, so a re-run finds it whatever line a crash stopped at. */
export interface SentTx {
  nonce: number
  hash: Hex
  /** The signed bytes, kept until mined, to rebroadcast the same transaction rather than sign another. */
  raw?: Hex
}

export interface EvmDeploymentState {
  deployer: Address
  /** The plan, canonical: a record of another plan is never continued. */
  plan: unknown
  /** The relay's nonce (the escrow's when there is no relay); the escrow takes the next. */
  firstNonce: number
  relay?: SentTx
  escrow?: SentTx
  genesis?: SentTx
  owner?: SentTx
}

export class NonceTaken extends QantaraError<'SUBMIT_FAILED'> {
  constructor(step: string, nonce: number) {
    super('SUBMIT_FAILED', `nonce ${nonce}, planned for the ${step}, was taken by another transaction`)
  }
}

type Step = 'relay' | 'escrow' | 'genesis' | 'owner'

/** Sends each step once: signed, recorded, then broadcast; a recorded one is rebroadcast as it was, never signed again at its nonce. */
export function txSender(o: TxSenderOptions, deployer: Address) {
  const { wallet, publicClient } = o
  const latest = () => publicClient.getTransactionCount({ address: deployer, blockTag: 'latest' })
  const pending = () => publicClient.getTransactionCount({ address: deployer, blockTag: 'pending' })
  /** The receipt, or null where the node knows none; any other failure is thrown, never read as "not mined". */
  const receiptOf = (hash: Hex) =>
    publicClient.getTransactionReceipt({ hash }).catch((err: unknown) => {
      if (err instanceof TransactionReceiptNotFoundError) return null
      throw err
    })
  const mined = async (step: Step, sent: SentTx) => {
    const receipt = await publicClient
      .waitForTransactionReceipt({ hash: sent.hash, timeout: o.receiptTimeoutMs ?? 120_000 })
      .catch((err: unknown) => {
        throw new QantaraError(
          'SUBMIT_FAILED',
          `the ${step} transaction ${sent.hash} (nonce ${sent.nonce}) is not mined: run the command again to rebroadcast it`,
          { cause: err, retryable: true },
        )
      })
    if (receipt.status !== 'success')
      throw new QantaraError('SUBMIT_REVERTED', `the ${step} transaction ${sent.hash} reverted`, {
        context: { revert: 'MinedRevert' },
      })
  }
  return {
    async once(
      s: EvmDeploymentState,
      step: Step,
      tx: { data: Hex; to?: Address; nonce?: number },
      done: () => Promise<boolean>,
      save: (s: EvmDeploymentState) => void,
    ): Promise<void> {
      if (await done()) return
      const sent = s[step]
      if (sent) {
        if (await receiptOf(sent.hash)) return mined(step, sent)
        if ((await latest()) <= sent.nonce) {
          // Its nonce is still open: the recorded transaction, sent again as it was, is the only one that can take it.
          if (sent.raw) {
            o.log(`rebroadcasting the ${step} transaction ${sent.hash}`)
            await publicClient.sendRawTransaction({ serializedTransaction: sent.raw }).catch(() => undefined)
          }
          return mined(step, sent)
        }
        // A mined transaction took its nonce, and it is not ours (no receipt): read twice, a lagging node is not evidence.
        if (await receiptOf(sent.hash)) return mined(step, sent)
        if (tx.nonce !== undefined) throw new NonceTaken(step, sent.nonce)
      } else if (tx.nonce !== undefined) {
        if ((await latest()) > tx.nonce) throw new NonceTaken(step, tx.nonce)
        if ((await pending()) > tx.nonce)
          throw new QantaraError(
            'SUBMIT_FAILED',
            `another transaction of ${deployer} waits at nonce ${tx.nonce}, planned for the ${step}: run the command again once it is mined`,
            { retryable: true },
          )
      }
      const request = await wallet
        .prepareTransactionRequest({
          account: wallet.account,
          chain: wallet.chain,
          data: tx.data,
          ...(tx.to ? { to: tx.to } : {}),
          ...(tx.nonce !== undefined ? { nonce: tx.nonce } : {}),
        })
        .catch((err: unknown) => {
          throw step === 'escrow' ? escrowRefusal(err) : err
        })
      const raw = await wallet.signTransaction(request)
      const next: SentTx = { nonce: request.nonce, hash: keccak256(raw), raw }
      s[step] = next
      save(s)
      o.log(`sending the ${step} transaction ${next.hash} (nonce ${next.nonce})`)
      await publicClient.sendRawTransaction({ serializedTransaction: raw })
      await mined(step, next)
      s[step] = { nonce: next.nonce, hash: next.hash }
      save(s)
    },
  }
}
