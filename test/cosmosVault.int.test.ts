import { execFile } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DirectSecp256k1Wallet } from '@cosmjs/proto-signing'
import { fromBech32, toBech32 } from '@cosmjs/encoding'
import { SigningStargateClient, type MsgSendEncodeObject } from '@cosmjs/stargate'
import { cometClient } from '../adapters/cosmos/rpc.js'
import { startSimd, type Simd } from '../adapters/cosmos/simd.js'
import { CosmosVaultWatcher } from '../adapters/cosmos/watcher.js'
import type { ChainEvent, Checkpoint } from '../src/chains.js'
import { silentLogger } from '../src/log.js'
import { encodeOrderMemo, vaultOrderId, type VaultOrderMemo } from '../src/vault/orderMemo.js'

// An IBC voucher denom, as a renter holding USDC from another chain would pay in.
const USDC = 'ibc/498A0751C798A0D9A389AA3691123DADA57DAA4FE165D5C75894505B876BA6E4'
const CHAIN = 'cosmos:qantara-local'
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n))
let simd: Simd
let renter: { client: SigningStargateClient; address: string }
const vault = toBech32('cosmos', random(20))
const other = toBech32('cosmos', random(20))
const provider = toBech32('cosmos', random(20))

beforeAll(async () => {
  const wallet = await DirectSecp256k1Wallet.fromKey(random(32), 'cosmos')
  const [account] = await wallet.getAccounts()
  // The memo limit raised so that a 600-byte memo reaches the chain and the watcher has to refuse it itself.
  simd = await startSimd({ accounts: [{ address: account!.address, coins: `100000000000stake,100000000000${USDC}` }], maxMemoCharacters: 1_024 })
  renter = { client: await SigningStargateClient.connectWithSigner(simd.rpcUrl, wallet, { broadcastPollIntervalMs: 200 }), address: account!.address }
}, 1_800_000)
afterAll(async () => {
  renter?.client.disconnect()
  await simd?.stop()
})

const terms = (amount: bigint, salt = random(16)): VaultOrderMemo => ({ salt, providerId: `0x${'cd'.repeat(32)}`, start: 1_800_000_000n, slotLength: 60, slots: 10, amount, payout: fromBech32(provider).data })
const send = (to: string, amount: bigint, denom = USDC): MsgSendEncodeObject => ({ typeUrl: '/cosmos.bank.v1beta1.MsgSend', value: { fromAddress: renter.address, toAddress: to, amount: [{ denom, amount: amount.toString() }] } })
async function deposit(msgs: MsgSendEncodeObject[], memo: string): Promise<string> {
  const res = await renter.client.signAndBroadcast(renter.address, msgs, { amount: [], gas: '400000' }, memo)
  expect(res.code).toBe(0)
  return res.transactionHash
}

function watcher(known: Set<string>, maxBlocksPerPoll?: number) {
  return new CosmosVaultWatcher({
    chain: CHAIN, comet: () => cometClient({ url: simd.rpcUrl, timeoutMs: 5_000 }), vault, prefix: 'cosmos', denoms: [USDC], extraDepth: 1, startHeight: 1,
    knownOrder: (id) => Promise.resolve(known.has(id)), logger: silentLogger(), ...(maxBlocksPerPoll ? { maxBlocksPerPoll } : {}),
  })
}

/** Polls until the watcher has read past `height`, feeding opened orders back as the store would. */
async function drainPast(w: CosmosVaultWatcher, known: Set<string>, height: number, from?: Checkpoint) {
  const events: ChainEvent[] = []
  let checkpoint = from
  for (let i = 0; i < 500; i++) {
    const r = await w.poll(checkpoint)
    events.push(...r.events)
    for (const e of r.events) if (e.kind === 'OrderOpened') known.add(e.order.id)
    checkpoint = r.checkpoint
    if (r.checkpoint.height > BigInt(height)) return { events, checkpoint }
    await new Promise((ok) => setTimeout(ok, 100))
  }
  throw new Error('the watcher did not catch up')
}
const heightOf = async (hash: string) => (await renter.client.getTx(hash))!.height

describe('Cosmos vault watcher on simd', () => {
  it('opens an order from a MsgSend to the vault with its memo, at the amount the transfer events show', async () => {
    const memo = terms(12_500_000n)
    const hash = await deposit([send(vault, 12_500_000n)], encodeOrderMemo(memo))
    const known = new Set<string>()
    const { events } = await drainPast(watcher(known), known, await heightOf(hash))
    expect(events).toEqual([{
      kind: 'OrderOpened', chain: CHAIN, key: `OrderOpened:${hash}`, block: { height: BigInt(await heightOf(hash)), hash: '' }, txHash: hash,
      order: { id: vaultOrderId(CHAIN, renter.address, memo.salt), chain: CHAIN, renter: renter.address, token: USDC, amount: 12_500_000n, providerId: memo.providerId, payout: provider, start: memo.start, slotLength: 60, slots: 10 },
    }])
  })

  it('ignores, each with its reason, every deposit that does not make an order', async () => {
    const known = new Set<string>()
    const start = await drainPast(watcher(known), known, (await renter.client.getHeight()) - 1)
    const repeated = terms(1_000_000n)
    const sent = {
      wrongDenom: await deposit([send(vault, 1_000_000n, 'stake')], encodeOrderMemo(terms(1_000_000n))),
      claimsMore: await deposit([send(vault, 1_000_000n)], encodeOrderMemo(terms(2_000_000n))),
      noMemo: await deposit([send(vault, 1_000_000n)], ''),
      mostlyElsewhere: await deposit([send(other, 1_000_000n), send(vault, 1n)], encodeOrderMemo(terms(1_000_000n))),
      first: await deposit([send(vault, 1_000_000n)], encodeOrderMemo(repeated)),
      duplicate: await deposit([send(vault, 1_000_000n)], encodeOrderMemo(repeated)),
      oversized: await deposit([send(vault, 1_000_000n)], `qv1:${'A'.repeat(596)}`),
      elsewhereOnly: await deposit([send(other, 1_000_000n)], encodeOrderMemo(terms(1_000_000n))),
    }
    const { events } = await drainPast(watcher(known), known, await heightOf(sent.elsewhereOnly), start.checkpoint)
    const outcome = (hash: string) => {
      const e = events.find((x) => x.txHash === hash)
      return e?.kind === 'VaultDepositIgnored' ? e.reason : e?.kind
    }
    expect(Object.fromEntries(Object.entries(sent).map(([what, hash]) => [what, outcome(hash)]))).toEqual({
      wrongDenom: 'WRONG_DENOM',
      claimsMore: 'AMOUNT_MISMATCH',
      noMemo: 'NO_MEMO',
      mostlyElsewhere: 'AMOUNT_MISMATCH',
      first: 'OrderOpened',
      duplicate: 'DUPLICATE_ORDER',
      oversized: 'MEMO_TOO_LARGE',
      // Never touched the vault: not the vault's business at all.
      elsewhereOnly: undefined,
    })
    expect(events.find((e) => e.txHash === sent.noMemo)).toMatchObject({ sender: renter.address, token: USDC, amount: 1_000_000n })
  })

  it('resumes from its checkpoint after a restart, reading each deposit once, a window of heights at a time', async () => {
    const known = new Set<string>()
    const first = await drainPast(watcher(known), known, (await renter.client.getHeight()) - 1)
    const sent: string[] = []
    for (let i = 0; i < 4; i++) sent.push(await deposit([send(vault, 1_000n + BigInt(i))], encodeOrderMemo(terms(1_000n + BigInt(i)))))
    // A fresh watcher (the process restarted) with the stored checkpoint, two heights per poll.
    const resumed = await drainPast(watcher(known, 2), known, await heightOf(sent.at(-1)!), first.checkpoint)
    expect(resumed.events.map((e) => e.txHash)).toEqual(sent)
    const again = await watcher(known, 2).poll(resumed.checkpoint)
    expect(again.events).toEqual([])
  })

  it('opens the order `qantara order memo` names, from a deposit that carries its memo', async () => {
    const args = ['order', 'memo', '--chain', CHAIN, '--renter', renter.address.toUpperCase(), '--provider', `0x${'cd'.repeat(32)}`, '--amount', '4200000', '--slots', '10', '--slot-length', '60', '--start', '1800000000', '--payout', provider]
    const printed = JSON.parse(await new Promise<string>((ok, fail) => execFile(process.execPath, ['dist/src/cli/main.js', ...args], { timeout: 30_000 }, (err, out, errOut) => (err ? fail(new Error(errOut)) : ok(out))))) as { orderId: string; memo: string; renter: string }
    // An upper-case bech32 address is the same account: the id is made from the form the watcher reads.
    expect(printed.renter).toBe(renter.address)
    const hash = await deposit([send(vault, 4_200_000n)], printed.memo)
    const known = new Set<string>()
    const { events } = await drainPast(watcher(known), known, await heightOf(hash))
    expect(events.find((e) => e.txHash === hash)).toMatchObject({ kind: 'OrderOpened', order: { id: printed.orderId, renter: renter.address, amount: 4_200_000n, payout: provider, slots: 10, slotLength: 60, start: 1_800_000_000n } })
  })
})
