import { isQantaraError } from '../../src/errors.js'

/** The word a QantaraError's typed context gives its cause (a refusal's reason, a revert's name), else its details for people, else ''. */
export function contextWord(err: unknown): string {
  if (isQantaraError(err, 'COSIGN_REFUSED') || isQantaraError(err, 'RECORD_REJECTED'))
    return err.context.reason
  if (isQantaraError(err, 'SUBMIT_REVERTED') || isQantaraError(err, 'SIGNATURE_REFUSED'))
    return err.context.revert
  return isQantaraError(err) ? (err.details ?? '') : ''
}

/** How a promise ended: 'resolved', or `CODE:word` of the QantaraError it rejected with (the message of any other). */
export const codeOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'resolved',
    (err: unknown) => (isQantaraError(err) ? `${err.code}:${contextWord(err)}` : String(err)),
  )

/** A co-signer's answer: 'signed', or [code, context word, retryable] of its refusal. */
export const refusalOf = (p: Promise<unknown>): Promise<string | [string, string, boolean]> =>
  p.then(
    () => 'signed',
    (err: unknown) => (isQantaraError(err) ? [err.code, contextWord(err), err.retryable] : String(err)),
  )
