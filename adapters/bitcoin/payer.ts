import { isQantaraError } from '../../src/errors.js'
import type { BtcPayer } from '../../src/solver/solver.js'
import type { ChainId } from '../../src/caip2.js'
import type { BitcoinRpc } from './rpc.js'
import type { BtcWallet } from './wallet.js'

/** The solver's Bitcoin side: its wallet's coins as the node reports them, fee rates from the node, payments built with bitcoinjs-lib. */
export function btcPayer(o: {
  chain: ChainId
  rpc: BitcoinRpc
  wallet: BtcWallet
  fallbackFeeRate: number
  maxFeeRate: number
}): BtcPayer {
  const spendable = async (exclude: Set<string>) =>
    (await o.rpc.listUnspent(o.wallet.address)).filter((u) => !exclude.has(`${u.txid}:${u.vout}`))
  return {
    chain: o.chain,
    address: o.wallet.address,
    async balance(exclude) {
      return (await spendable(exclude)).reduce((s, u) => s + u.value, 0n)
    },
    async build(orderId, script, sats, exclude) {
      const estimate = await o.rpc.feeRate(6).catch(() => undefined)
      const feeRate = Math.min(estimate ?? o.fallbackFeeRate, o.maxFeeRate)
      const payment = o.wallet.pay({
        outputs: [{ script: Uint8Array.from(Buffer.from(script, 'hex')), value: sats }],
        tag: Uint8Array.from(Buffer.from(orderId.slice(2), 'hex')),
        utxos: await spendable(exclude),
        feeRate,
      })
      return { txid: payment.txid, hex: payment.hex, inputs: payment.spent.map((u) => `${u.txid}:${u.vout}`) }
    },
    async broadcast(hex) {
      await o.rpc.sendRawTransaction(hex)
    },
    async status(txid) {
      try {
        const tx = await o.rpc.getTransaction(txid)
        return tx.blockhash ? { state: 'mined', confirmations: tx.confirmations ?? 1 } : { state: 'mempool' }
      } catch (err) {
        if (isQantaraError(err, 'RPC_NOT_FOUND')) return { state: 'unknown' }
        throw err
      }
    },
  }
}
