import { BaseError, ContractFunctionRevertedError } from 'viem'

/** Runs `fn` and returns the name of the custom error it reverted with. */
export async function revertName(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn()
  } catch (err) {
    if (err instanceof BaseError) {
      const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError)
      if (reverted instanceof ContractFunctionRevertedError)
        return reverted.data?.errorName ?? `raw:${reverted.raw ?? reverted.reason}`
    }
    throw err
  }
  throw new Error('expected a revert, but the call succeeded')
}
