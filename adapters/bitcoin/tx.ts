import { Transaction } from 'bitcoinjs-lib'

/** The witness-stripped serialisation, the one the txid commits to and the escrow parses. */
export function withoutWitness(raw: Uint8Array): Uint8Array {
  const tx = Transaction.fromBuffer(raw)
  for (const input of tx.ins) input.witness = []
  return Uint8Array.from(tx.toBuffer())
}
