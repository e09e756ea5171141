import { describe, expect, it } from 'vitest'
import {
  ContractFunctionRevertedError,
  ExecutionRevertedError,
  HttpRequestError,
  InvalidParamsRpcError,
  LimitExceededRpcError,
  RpcRequestError,
  TimeoutError,
} from 'viem'
import { qantaraEscrowAbi } from '../adapters/evm/contracts/artifacts/QantaraEscrow.js'
import { isRangeRefusal, nextRange } from '../adapters/evm/logRange.js'
import { shouldThrow } from '../adapters/evm/rpcPool.js'
import { QantaraError } from '../src/errors.js'

const rpcError = (code: number, message: string) =>
  new RpcRequestError({ body: {}, url: 'http://rpc', error: { code, message } })

describe('fail-over policy (shouldThrow)', () => {
  it('throws at once on a contract revert: every endpoint would say the same', () => {
    expect(
      shouldThrow(
        new ContractFunctionRevertedError({ abi: qantaraEscrowAbi, functionName: 'settle', data: '0x' }),
      ),
    ).toBe(true)
    expect(shouldThrow(new ExecutionRevertedError())).toBe(true)
  })

  it('throws at once on our own abort and on a refused log range', () => {
    expect(shouldThrow(new QantaraError('ABORTED', 'aborted'))).toBe(true)
    expect(shouldThrow(new QantaraError('RPC_RANGE_REFUSED', 'too wide'))).toBe(true)
  })

  it('fails over on timeouts, HTTP errors, bad chains and unknown errors', () => {
    expect(shouldThrow(new TimeoutError({ body: {}, url: 'http://rpc' }))).toBe(false)
    expect(shouldThrow(new HttpRequestError({ url: 'http://rpc', status: 502 }))).toBe(false)
    expect(shouldThrow(new QantaraError('RPC_WRONG_CHAIN', 'chain 1'))).toBe(false)
    expect(shouldThrow(new SyntaxError('Unexpected token <'))).toBe(false)
  })
})

describe('log range policy', () => {
  it('recognises the range refusals of common providers', () => {
    expect(
      isRangeRefusal(new LimitExceededRpcError(rpcError(-32005, 'query returned more than 10000 results'))),
    ).toBe(true)
    expect(
      isRangeRefusal(new InvalidParamsRpcError(rpcError(-32602, 'query exceeds max block range 2000'))),
    ).toBe(true)
    expect(
      isRangeRefusal(
        rpcError(
          -32000,
          'Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range',
        ),
      ),
    ).toBe(true)
    expect(isRangeRefusal(new HttpRequestError({ url: 'http://rpc', status: 413 }))).toBe(true)
  })

  it('does not mistake other failures for a range refusal', () => {
    expect(isRangeRefusal(new HttpRequestError({ url: 'http://rpc', status: 502 }))).toBe(false)
    expect(isRangeRefusal(rpcError(-32601, 'the method eth_getLogs does not exist'))).toBe(false)
    expect(isRangeRefusal(new Error('block range too large'))).toBe(false)
  })

  it('halves down to one block, and grows back to the configured maximum', () => {
    expect(nextRange(2000, 2000, 'refused')).toBe(1000)
    expect(nextRange(1, 2000, 'refused')).toBe(1)
    expect(nextRange(1000, 2000, 'ok')).toBe(2000)
    expect(nextRange(2000, 2000, 'ok')).toBe(2000)
  })
})
