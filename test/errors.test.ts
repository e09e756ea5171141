import { describe, expect, it } from 'vitest'
import { QantaraError, assertNever, isQantaraError } from '../src/errors.js'
import { serializeError } from '../src/log.js'

describe('errors', () => {
  it('narrows on the code to a typed context, and tells codes apart', () => {
    const err: unknown = new QantaraError('SUBMIT_REVERTED', 'settle would revert', {
      context: { revert: 'AlreadyRefunded' },
    })
    expect(isQantaraError(err, 'SUBMIT_REVERTED') && err.context.revert).toBe('AlreadyRefunded')
    expect(isQantaraError(err, 'RECORD_REJECTED')).toBe(false)
    expect(new QantaraError('RPC_UNAVAILABLE', 'down').context).toBeUndefined()
  })

  it('logs the code, context, details and the cause chain, bounded', () => {
    const root = Object.assign(new Error('ECONNRESET'), { code: 'ECONNRESET' })
    const mid = new QantaraError('RPC_UNAVAILABLE', 'eth_call failed', {
      cause: root,
      retryable: true,
      details: 'after 3 tries',
    })
    const top = new QantaraError('SIGNATURE_REFUSED', 'one signature refused', {
      cause: mid,
      retryable: true,
      context: { signature: '0xsig', revert: 'HighS' },
    })
    expect(serializeError(top)).toEqual({
      type: 'QantaraError',
      message: 'one signature refused',
      code: 'SIGNATURE_REFUSED',
      context: { signature: '0xsig', revert: 'HighS' },
      retryable: true,
      cause: {
        type: 'QantaraError',
        message: 'eth_call failed',
        code: 'RPC_UNAVAILABLE',
        details: 'after 3 tries',
        retryable: true,
        cause: { type: 'Error', message: 'ECONNRESET', code: 'ECONNRESET' },
      },
    })
    let deep: Error = new Error('bottom')
    for (let i = 0; i < 20; i++) deep = new Error(`level ${i}`, { cause: deep })
    expect(JSON.stringify(serializeError(deep)).match(/"message"/g)).toHaveLength(6)
    expect(serializeError('a string')).toBe('a string')
  })

  it('fails loudly on a case a switch did not cover', () => {
    expect(() => assertNever('surprise' as never)).toThrow('unhandled case "surprise"')
  })
})
