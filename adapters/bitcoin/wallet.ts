import { secp256k1 } from '@noble/curves/secp256k1'
import { sha256 } from '@noble/hashes/sha256'
import { createBase58check } from '@scure/base'
import { networks, payments, Psbt, script as bscript, type Network } from 'bitcoinjs-lib'
import { QantaraError } from '../../src/errors.js'

export type BtcNetworkName = 'mainnet' | 'regtest'

export function bitcoinjsNetwork(name: BtcNetworkName): Network {
  return name === 'mainnet' ? networks.bitcoin : networks.regtest
}

const base58check = createBase58check(sha256)

export interface Utxo {
  txid: string
  vout: number
  value: bigint
}

export interface PaymentPlan {
  /** Outputs besides the tag and the change, e.g. the provider's script. */
  outputs: { script: Uint8Array; value: bigint }[]
  /** 32 bytes carried as `OP_RETURN <tag>`: the order id the payment is for. */
  tag: Uint8Array
  utxos: Utxo[]
  feeRate: number
}

export interface SignedPayment {
  hex: string
  txid: string
  fee: bigint
  spent: Utxo[]
  change: bigint
}

/** Below this an output is dust nobody would relay; such change goes to the fee. */
const DUST = 546n

/**
 * A single-key P2WPKH wallet: the solver's. The key comes as WIF or as a
 * `wpkh(<WIF>)` descriptor; transactions are PSBTs signed with low-s ECDSA.
 */
export class BtcWallet {
  readonly publicKey: Uint8Array
  readonly script: Uint8Array
  readonly address: string

  private constructor(
    private readonly secret: Uint8Array,
    readonly network: Network,
  ) {
    this.publicKey = secp256k1.getPublicKey(secret, true)
    const p2wpkh = payments.p2wpkh({ pubkey: this.publicKey, network })
    this.script = Uint8Array.from(p2wpkh.output!)
    this.address = p2wpkh.address!
  }

  static fromKeyText(text: string, network: BtcNetworkName): BtcWallet {
    const trimmed = text.trim()
    const descriptor = /^wpkh\(([1-9A-HJ-NP-Za-km-z]+)\)(#[a-z0-9]{8})?$/.exec(trimmed)
    const wif = descriptor ? descriptor[1]! : trimmed
    let payload: Uint8Array
    try {
      payload = base58check.decode(wif)
    } catch (cause) {
      throw new QantaraError(
        'KEY_UNAVAILABLE',
        'the Bitcoin key is neither a WIF nor a wpkh(<WIF>) descriptor',
        { cause },
      )
    }
    const version = network === 'mainnet' ? 0x80 : 0xef
    if (payload.length !== 34 || payload[0] !== version || payload[33] !== 0x01) {
      throw new QantaraError('KEY_UNAVAILABLE', `the Bitcoin key must be a compressed-key WIF for ${network}`)
    }
    return new BtcWallet(payload.slice(1, 33), bitcoinjsNetwork(network))
  }

  /** A fresh key's WIF, for devnets and tests. */
  static generateWif(network: BtcNetworkName): string {
    const key = secp256k1.utils.randomPrivateKey()
    return base58check.encode(Uint8Array.from([network === 'mainnet' ? 0x80 : 0xef, ...key, 0x01]))
  }

  /**
   * Pays `plan.outputs` plus `OP_RETURN <tag>`, change back to this wallet.
   * Coins are taken largest first until value and fee are covered.
   */
  pay(plan: PaymentPlan): SignedPayment {
    if (plan.tag.length !== 32) throw new QantaraError('CONFIG_INVALID', 'a payment tag is 32 bytes')
    const tagScript = Uint8Array.from(bscript.compile([bscript.OPS.OP_RETURN, plan.tag]))
    const wanted = plan.outputs.reduce((s, o) => s + o.value, 0n)
    const outputBytes = [...plan.outputs.map((o) => o.script), tagScript, this.script].reduce(
      (s, script) => s + 9 + script.length,
      0,
    )
    const rate = BigInt(Math.ceil(plan.feeRate))
    const spent: Utxo[] = []
    let inputValue = 0n
    let fee = 0n
    for (const utxo of [...plan.utxos].sort((a, b) => (b.value > a.value ? 1 : b.value < a.value ? -1 : 0))) {
      spent.push(utxo)
      inputValue += utxo.value
      // P2WPKH: 68 vbytes per input, 11 of version, counts, locktime and the segwit marker.
      fee = rate * BigInt(11 + 68 * spent.length + outputBytes)
      if (inputValue >= wanted + fee) break
    }
    if (inputValue < wanted + fee)
      throw new QantaraError(
        'SUBMIT_FAILED',
        `the wallet holds ${inputValue} sats; this payment needs ${wanted + fee}`,
        { details: 'INSUFFICIENT_FUNDS', retryable: true },
      )
    let change = inputValue - wanted - fee
    const psbt = new Psbt({ network: this.network })
    for (const u of spent)
      psbt.addInput({
        hash: u.txid,
        index: u.vout,
        sequence: 0xfffffffd,
        witnessUtxo: { script: this.script, value: u.value },
      })
    for (const o of plan.outputs) psbt.addOutput({ script: o.script, value: o.value })
    psbt.addOutput({ script: tagScript, value: 0n })
    if (change >= DUST) psbt.addOutput({ script: this.script, value: change })
    else {
      fee += change
      change = 0n
    }
    const signer = {
      publicKey: this.publicKey,
      sign: (hash: Uint8Array) => secp256k1.sign(hash, this.secret, { lowS: true }).toCompactRawBytes(),
    }
    psbt.signAllInputs(signer)
    psbt.finalizeAllInputs()
    const tx = psbt.extractTransaction()
    return { hex: tx.toHex(), txid: tx.getId(), fee, spent, change }
  }
}
