import { createMultisigThresholdPubkey, parseCoins, pubkeyToAddress } from '@cosmjs/amino'
import { fromBech32, toBech32 } from '@cosmjs/encoding'
import { DirectSecp256k1Wallet } from '@cosmjs/proto-signing'
import { SigningStargateClient, type MsgSendEncodeObject } from '@cosmjs/stargate'
import { TxBody, TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx.js'
import { signCosmosQuote } from '../../adapters/cosmos/btcQuote.js'
import { cosmosKeyFromSecret, type CosmosKey } from '../../adapters/cosmos/keys.js'
import { decodeBtcShareMemo, encodeReleaseMemo } from '../../src/vault/releaseMemo.js'
import { startSimd } from '../chains/simd.js'
import { encodeOrderMemo, vaultOrderId, type VaultQuote } from '../../src/vault/orderMemo.js'
import { refundOrderId } from '../../src/vault/refund.js'
import type { DevnetVault } from './vault.js'
import type { LocalCosmos } from '../localMarket.js'
import { REFERENCE_ORDER_GPU } from '../gpu/referenceGpu.js'

/** An IBC voucher denom, as USDC bridged from another chain is paid in. */
const USDC = 'ibc/498A0751C798A0D9A389AA3691123DADA57DAA4FE165D5C75894505B876BA6E4'
const CHAIN_ID = 'qantara-local'

export interface DevnetCosmos extends DevnetVault {
  local: LocalCosmos
}

/** simd (one validator, 200 ms blocks) with a vault under a `threshold`-of-`relayers` amino multisig, and a funded renter. */
export async function startDevnetCosmos(
  relayers: number,
  threshold: number,
  withSolver = false,
): Promise<DevnetCosmos> {
  const random = (n: number) => crypto.getRandomValues(new Uint8Array(n))
  const keys = Array.from({ length: relayers }, () => {
    const hex = Buffer.from(random(32)).toString('hex')
    return {
      hex,
      pubkey: Buffer.from(cosmosKeyFromSecret({ kind: 'hex', value: hex }, 'cosmos').pubkey).toString(
        'base64',
      ),
    }
  })
  // Sorted, as `simd keys add --multisig` makes it; the config lists the keys in this order.
  const multisig = createMultisigThresholdPubkey(
    keys.map((k) => ({ type: 'tendermint/PubKeySecp256k1', value: k.pubkey })),
    threshold,
  )
  const vault = pubkeyToAddress(multisig, 'cosmos')
  const wallet = await DirectSecp256k1Wallet.fromKey(random(32), 'cosmos')
  const [renter] = await wallet.getAccounts()
  const simd = await startSimd({
    chainId: CHAIN_ID,
    accounts: [{ address: renter!.address, coins: `100000000000stake,100000000000${USDC}` }],
    // An order memo carrying a solver's quote is about 350 characters; simd's default allows 256.
    ...(withSolver ? { maxMemoCharacters: 512 } : {}),
  })
  const solverHex = withSolver ? Buffer.from(random(32)).toString('hex') : undefined
  const solver = solverHex ? cosmosKeyFromSecret({ kind: 'hex', value: solverHex }, 'cosmos') : undefined
  const client = await SigningStargateClient.connectWithSigner(simd.rpcUrl, wallet, {
    broadcastPollIntervalMs: 200,
  })
  const chain = `cosmos:${CHAIN_ID}`
  const [feeRecipient, providerPayout] = [toBech32('cosmos', random(20)), toBech32('cosmos', random(20))]
  const send = async (memo: string, amount: bigint) => {
    const msg: MsgSendEncodeObject = {
      typeUrl: '/cosmos.bank.v1beta1.MsgSend',
      value: {
        fromAddress: renter!.address,
        toAddress: vault,
        amount: [{ denom: USDC, amount: amount.toString() }],
      },
    }
    const res = await client.signAndBroadcast(renter!.address, [msg], { amount: [], gas: '200000' }, memo)
    if (res.code !== 0) throw new Error(`deposit failed: code ${res.code} ${res.rawLog ?? ''}`)
    return res.transactionHash
  }
  return {
    local: {
      chain,
      rpcUrl: simd.rpcUrl,
      vault,
      denom: USDC,
      multisig: { threshold, pubkeys: multisig.value.pubkeys.map((p) => p.value) },
      keys,
      feeRecipient,
      providerPayout,
      ...(solverHex ? { solverKey: solverHex } : {}),
    },
    token: USDC,
    async open(o) {
      if (o.btc && !solver) throw new Error('the devnet Cosmos vault was started without a solver')
      const salt = random(16)
      const orderId = vaultOrderId(chain, renter!.address, salt)
      const quote =
        o.btc && solver ? cosmosQuote(solver, { chain, vault, orderId, token: USDC }, o, o.btc) : undefined
      const txHash = await send(
        encodeOrderMemo({
          salt,
          providerId: o.providerId,
          start: o.start,
          slotLength: o.slotLength,
          slots: o.slots,
          gpu: REFERENCE_ORDER_GPU,
          amount: o.amount,
          payout: fromBech32(providerPayout).data,
          ...(quote ? { quote } : {}),
        }),
        o.amount,
      )
      return { orderId, txHash }
    },
    async stray(amount) {
      const txHash = await send('', amount)
      return { orderId: refundOrderId(chain, txHash), txHash }
    },
    async released(orderId) {
      const found = await client.searchTx(`transfer.sender='${vault}'`)
      const landed = (memo: (text: string) => boolean) =>
        found.find((t) => t.code === 0 && t.events.length > 0 && memo(decodeMemo(t.tx)))
      const tx = landed((text) => text === encodeReleaseMemo(orderId))
      if (!tx) return undefined
      // A share owed in BTC leaves the vault in a second release, to the solver (or, with no payout, the provider).
      const share = landed((text) => decodeBtcShareMemo(text)?.orderId === orderId)
      const gained = (to: string | undefined, t: typeof tx = tx) =>
        t.events
          .filter((e) => e.type === 'transfer')
          .reduce((sum, e) => {
            const get = (k: string) => e.attributes.find((a) => a.key === k)?.value
            return get('recipient') === to && get('sender') === vault
              ? sum +
                  parseCoins(get('amount') ?? '')
                    .filter((c) => c.denom === USDC)
                    .reduce((a, c) => a + BigInt(c.amount), 0n)
              : sum
          }, 0n)
      return {
        toProvider:
          gained(providerPayout) +
          (share ? gained(providerPayout, share) + gained(solver?.address, share) : 0n),
        toRenter: gained(renter!.address),
        fee: gained(feeRecipient),
        txHash: tx.hash,
      }
    },
    stop: async () => {
      client.disconnect()
      await simd.stop()
    },
  }
}

/** The devnet solver's quote for one order, as `qantara solver quote` signs it: for exactly this order, good for two minutes. */
function cosmosQuote(
  solver: CosmosKey,
  order: { chain: string; vault: string; orderId: `0x${string}`; token: string },
  o: { amount: bigint; start: bigint; slotLength: number; slots: number },
  btc: { script: string; satsPerE18: bigint; payoutDeadline: bigint },
): VaultQuote {
  const terms = {
    script: Uint8Array.from(Buffer.from(btc.script, 'hex')),
    satsPerE18: btc.satsPerE18,
    payoutDeadline: btc.payoutDeadline,
    maxAmount: o.amount,
    openBy: BigInt(Math.floor(Date.now() / 1000)) + 120n,
    latestEnd: o.start + BigInt(o.slotLength * o.slots),
  }
  return { ...terms, solver: solver.pubkey, signature: signCosmosQuote(solver, order, terms) }
}

function decodeMemo(tx: Uint8Array): string {
  return TxBody.decode(TxRaw.decode(tx).bodyBytes).memo
}
