import { createServer, type Server } from 'node:http'
import {
  address,
  getBase58Decoder,
  getBase64Encoder,
  getCompiledTransactionMessageDecoder,
  getTransactionDecoder,
  type Transaction,
} from '@solana/kit'
import { FailedTransactionMetadata, LiteSVM } from 'litesvm'

const TOKEN_PROGRAM = 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA'
const TOKEN_ACCOUNT_BYTES = 165
const MEMO_PROGRAMS = [
  'MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr',
  'Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo',
]

interface TokenBalance {
  accountIndex: number
  mint: string
  owner: string
  programId: string
  uiTokenAmount: { amount: string; decimals: number; uiAmount: number | null; uiAmountString: string }
}

/** One executed transaction, kept as a validator's ledger would answer for it. */
interface Recorded {
  signature: string
  slot: number
  blockTime: number
  err: unknown
  memo: string | null
  accountKeys: string[]
  json: unknown
}

export interface LitesvmRpc {
  url: string
  svm: LiteSVM
  /** Every executed transaction, oldest first. */
  ledger: Recorded[]
  /** Runs a transaction as sendTransaction would, and returns its signature (not recorded when it was refused before running). */
  execute(tx: Transaction): string
  stop(): Promise<void>
}

/**
 * A JSON-RPC server over litesvm, for tests and the devnet: litesvm is a real
 * SVM but has no RPC server and only thin transaction history. It records
 * every transaction it executes (with the pre/post lamport and token balances
 * a validator records) and answers exactly the methods the Solana adapter
 * uses (getSlot, getSignaturesForAddress, getTransaction, getAccountInfo,
 * getSignatureStatuses, sendTransaction), in the real JSON-RPC shapes.
 * Every executed transaction is final at once: litesvm has no forks.
 */
export async function startLitesvmRpc(svm: LiteSVM = new LiteSVM()): Promise<LitesvmRpc> {
  const ledger: Recorded[] = []
  const byAddress = new Map<string, Recorded[]>()
  const bySignature = new Map<string, Recorded>()
  const b58 = getBase58Decoder()
  let slot = Number(svm.getClock().slot)

  function tokenBalances(keys: string[]): TokenBalance[] {
    const out: TokenBalance[] = []
    keys.forEach((key, accountIndex) => {
      const acc = svm.getAccount(address(key))
      if (!acc.exists || acc.programAddress !== TOKEN_PROGRAM || acc.data.length !== TOKEN_ACCOUNT_BYTES)
        return
      const data = Buffer.from(acc.data)
      const mint = b58.decode(data.subarray(0, 32))
      const mintAcc = svm.getAccount(address(mint))
      const decimals = mintAcc.exists ? mintAcc.data[44]! : 0
      const amount = data.readBigUInt64LE(64).toString()
      out.push({
        accountIndex,
        mint,
        owner: b58.decode(data.subarray(32, 64)),
        programId: TOKEN_PROGRAM,
        uiTokenAmount: {
          amount,
          decimals,
          uiAmount: Number(amount) / 10 ** decimals,
          uiAmountString: String(Number(amount) / 10 ** decimals),
        },
      })
    })
    return out
  }

  function execute(tx: Transaction): string {
    const message = getCompiledTransactionMessageDecoder().decode(tx.messageBytes)
    if (message.version === 1)
      throw Object.assign(new Error('this test server runs legacy and v0 messages only'), { code: -32602 })
    const keys = message.staticAccounts.map(String)
    const preBalances = keys.map((k) => Number(svm.getBalance(address(k)) ?? 0n))
    const preTokenBalances = tokenBalances(keys)
    const result = svm.sendTransaction(tx)
    const failed = result instanceof FailedTransactionMetadata
    const meta = failed ? result.meta() : result
    const feePayerSignature = Object.values(tx.signatures)[0]
    const signature = feePayerSignature ? b58.decode(feePayerSignature) : b58.decode(meta.signature())
    const err = failed ? describeError(result) : null
    // Refused before it ran (a stale blockhash or nonce, no fee payable): a cluster drops it, so no ledger holds it.
    if (failed && typeof err === 'string' && meta.logs().length === 0) return signature
    slot += 1
    svm.warpToSlot(BigInt(slot))
    // A new slot, a new blockhash: durable nonces can advance again, as on a cluster.
    svm.expireBlockhash()
    // As a validator fills getSignaturesForAddress' `memo`: each Memo instruction's text as "[len] text", joined by "; ".
    const memos = message.instructions
      .filter((ix) => MEMO_PROGRAMS.includes(keys[ix.programAddressIndex]!))
      .map((ix) => `[${ix.data?.length ?? 0}] ${new TextDecoder().decode(Uint8Array.from(ix.data ?? []))}`)
    const record: Recorded = {
      signature,
      slot,
      blockTime: Number(svm.getClock().unixTimestamp),
      err,
      memo: memos.length ? memos.join('; ') : null,
      accountKeys: keys,
      json: {
        slot,
        blockTime: Number(svm.getClock().unixTimestamp),
        version: message.version === 'legacy' ? 'legacy' : 0,
        transaction: {
          signatures: Object.values(tx.signatures).map((s) => (s ? b58.decode(s) : '1'.repeat(64))),
          message: {
            accountKeys: keys,
            header: {
              numRequiredSignatures: message.header.numSignerAccounts,
              numReadonlySignedAccounts: message.header.numReadonlySignerAccounts,
              numReadonlyUnsignedAccounts: message.header.numReadonlyNonSignerAccounts,
            },
            recentBlockhash: message.lifetimeToken,
            instructions: message.instructions.map((ix) => ({
              programIdIndex: ix.programAddressIndex,
              accounts: [...(ix.accountIndices ?? [])],
              data: b58.decode(ix.data ?? new Uint8Array()),
              stackHeight: null,
            })),
          },
        },
        meta: {
          err,
          status: err ? { Err: err } : { Ok: null },
          fee: 5000 * message.header.numSignerAccounts,
          preBalances,
          postBalances: keys.map((k) => Number(svm.getBalance(address(k)) ?? 0n)),
          preTokenBalances,
          postTokenBalances: tokenBalances(keys),
          innerInstructions: meta.innerInstructions().map((list, index) => ({
            index,
            instructions: list.map((i) => ({
              programIdIndex: i.instruction().programIdIndex(),
              accounts: [...i.instruction().accounts()],
              data: b58.decode(i.instruction().data()),
              stackHeight: i.stackHeight(),
            })),
          })),
          logMessages: meta.logs(),
          loadedAddresses: { writable: [], readonly: [] },
          computeUnitsConsumed: Number(meta.computeUnitsConsumed()),
        },
      },
    }
    ledger.push(record)
    bySignature.set(signature, record)
    for (const k of new Set(keys)) byAddress.set(k, [...(byAddress.get(k) ?? []), record])
    return signature
  }

  const context = () => ({ slot, apiVersion: '2.2.0' })
  const methods: Record<string, (params: unknown[]) => unknown> = {
    getSlot: () => slot,
    ...stateMethods(svm, context),
    getAccountInfo: ([a]) => {
      const acc = svm.getAccount(address(a as string))
      return {
        context: context(),
        value: acc.exists
          ? {
              data: [Buffer.from(acc.data).toString('base64'), 'base64'],
              executable: acc.executable,
              lamports: Number(acc.lamports),
              owner: acc.programAddress,
              rentEpoch: 0,
              space: acc.data.length,
            }
          : null,
      }
    },
    sendTransaction: ([wire]) => {
      const tx = getTransactionDecoder().decode(getBase64Encoder().encode(wire as string))
      const signature = execute(tx)
      const record = bySignature.get(signature)!
      // Preflight, as a real node runs it by default: a failing transaction is reported, though here it was recorded.
      if (record.err)
        throw Object.assign(new Error(`Transaction simulation failed: ${JSON.stringify(record.err)}`), {
          code: -32002,
          data: {
            err: record.err,
            logs: (record.json as { meta: { logMessages: string[] } }).meta.logMessages,
          },
        })
      return signature
    },
    getSignatureStatuses: ([signatures]) => ({
      context: context(),
      value: (signatures as string[]).map((s) => {
        const r = bySignature.get(s)
        return r
          ? {
              slot: r.slot,
              confirmations: null,
              err: r.err,
              status: r.err ? { Err: r.err } : { Ok: null },
              confirmationStatus: 'finalized',
            }
          : null
      }),
    }),
    getSignaturesForAddress: ([a, options]) => {
      const o = (options ?? {}) as { limit?: number; before?: string; until?: string }
      const newestFirst = [...(byAddress.get(a as string) ?? [])].reverse()
      let start = 0
      if (o.before) {
        const i = newestFirst.findIndex((r) => r.signature === o.before)
        start = i < 0 ? newestFirst.length : i + 1
      }
      const out = []
      for (const r of newestFirst.slice(start)) {
        if (r.signature === o.until || out.length >= Math.min(o.limit ?? 1000, 1000)) break
        out.push({
          signature: r.signature,
          slot: r.slot,
          err: r.err,
          memo: r.memo,
          blockTime: r.blockTime,
          confirmationStatus: 'finalized',
        })
      }
      return out
    },
    getTransaction: ([s, options]) => {
      if ((options as { encoding?: string } | undefined)?.encoding !== 'json')
        throw Object.assign(new Error('this test server answers getTransaction in json encoding only'), {
          code: -32602,
        })
      return bySignature.get(s as string)?.json ?? null
    },
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      let call: { id: unknown; method: string; params?: unknown[] }
      try {
        call = JSON.parse(Buffer.concat(chunks).toString()) as typeof call
      } catch {
        return void res.writeHead(400).end()
      }
      const method = methods[call.method]
      let body: unknown
      try {
        if (!method) throw Object.assign(new Error(`Method not found: ${call.method}`), { code: -32601 })
        body = { jsonrpc: '2.0', id: call.id, result: method(call.params ?? []) }
      } catch (err) {
        const e = err as Error & { code?: number; data?: unknown }
        body = {
          jsonrpc: '2.0',
          id: call.id,
          error: { code: e.code ?? -32603, message: e.message, ...(e.data ? { data: e.data } : {}) },
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    })
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  return { url, svm, ledger, execute, stop: () => new Promise((ok) => server.close(() => ok())) }
}

/** What operators' commands read besides transactions: the chain's identity, a blockhash, rent and balances. */
function stateMethods(
  svm: LiteSVM,
  context: () => { slot: number },
): Record<string, (params: unknown[]) => unknown> {
  return {
    // A local ledger has no genesis hash a chain id could name: its CAIP-2 id is solana:litesvm.
    getGenesisHash: () => 'litesvm',
    getLatestBlockhash: () => ({
      context: context(),
      value: { blockhash: svm.latestBlockhash(), lastValidBlockHeight: context().slot + 150 },
    }),
    getMinimumBalanceForRentExemption: ([size]) =>
      Number(svm.minimumBalanceForRentExemption(BigInt(size as number))),
    getBalance: ([a]) => ({ context: context(), value: Number(svm.getBalance(address(a as string)) ?? 0n) }),
  }
}

function describeError(failed: FailedTransactionMetadata): unknown {
  const err = failed.err()
  if (typeof err === 'object' && 'index' in err && 'err' in err) {
    const inner = err.err()
    return {
      InstructionError: [
        err.index,
        typeof inner === 'object' && 'code' in inner ? { Custom: inner.code } : String(inner),
      ],
    }
  }
  // A fieldless error is only a number here; its Rust name, as RPCs print it, is in the text form.
  return /err: (\w+)/.exec(failed.toString())?.[1] ?? failed.toString()
}
