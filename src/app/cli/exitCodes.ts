import { CommanderError } from 'commander'
import {
  BaseError as ViemError,
  ContractFunctionRevertedError,
  HttpRequestError,
  InternalRpcError,
  LimitExceededRpcError,
  ResourceUnavailableRpcError,
  SocketClosedError,
  UnknownRpcError,
  TimeoutError as ViemTimeoutError,
  WebSocketRequestError,
} from 'viem'
import { errorMessage, isQantaraError, type ErrorCode } from '../../errors.js'

/**
 * The CLI's exit codes, one per class of outcome, so a script can tell "fix
 * your command" from "try again later" from "the chain said no" without
 * reading messages (docs/CLI.md, "Exit codes").
 */
export const EXIT = {
  OK: 0,
  /** The command ran and found problems: doctor, config validate, btc verify-*. */
  PROBLEMS: 1,
  /** The command line, a config, a key or a file it names is wrong: fix it and run again. */
  USAGE: 2,
  /** An RPC, relayer or other endpoint could not be reached or gave no usable answer: retrying may help. */
  UNREACHABLE: 3,
  /** A chain, relayer or provider record refused: retrying the same thing will not help. */
  REFUSED: 4,
  /** EX_SOFTWARE: a failure of this program or its state (store, a reorg past finality, a bug). */
  INTERNAL: 70,
  /** EX_TEMPFAIL: a deposed leader exits with it, for its supervisor to restart it as a standby. */
  DEPOSED: 75,
  /** Stopped by SIGINT or SIGTERM before it finished. */
  INTERRUPTED: 130,
} as const
export type ExitClass = keyof typeof EXIT

/**
 * Every QantaraError code's class: the one place a code meets an exit code.
 * A Record, so a new code fails to compile until it is classed here.
 */
const CLASS_OF_CODE: Readonly<Record<ErrorCode, ExitClass>> = {
  CONFIG_INVALID: 'USAGE',
  CONFIG_UNREADABLE: 'USAGE',
  KEY_UNAVAILABLE: 'USAGE',
  KEY_INSECURE: 'USAGE',
  KEYSTORE_INVALID: 'USAGE',
  // An RPC of another chain than the command names is a wrong --rpc or --chain, not an outage.
  RPC_WRONG_CHAIN: 'USAGE',
  RPC_UNAVAILABLE: 'UNREACHABLE',
  RPC_RANGE_REFUSED: 'UNREACHABLE',
  RPC_BAD_RESPONSE: 'UNREACHABLE',
  ENDPOINT_TIMEOUT: 'UNREACHABLE',
  ENDPOINT_UNREACHABLE: 'UNREACHABLE',
  RESPONSE_TOO_LARGE: 'UNREACHABLE',
  // Peers that give no co-signature are peers out of reach, as far as the caller can act on it.
  SUBMIT_FAILED: 'UNREACHABLE',
  RPC_NOT_FOUND: 'REFUSED',
  SUBMIT_REVERTED: 'REFUSED',
  SIGNATURE_REFUSED: 'REFUSED',
  ROTATION_REFUSED: 'REFUSED',
  COSIGN_REFUSED: 'REFUSED',
  ENDPOINT_REFUSED: 'REFUSED',
  RECORD_REJECTED: 'REFUSED',
  GPU_HELPER_REFUSED: 'REFUSED',
  STORE_FAILED: 'INTERNAL',
  STORE_MIGRATION_FAILED: 'INTERNAL',
  REORG_BEYOND_FINALITY: 'INTERNAL',
  EVENT_MALFORMED: 'INTERNAL',
  TELEMETRY_INVALID: 'INTERNAL',
  GPU_HELPER_FAILED: 'INTERNAL',
  FENCED: 'DEPOSED',
  ABORTED: 'INTERRUPTED',
}

/** How a failed command reports itself: under --json this object, as one line on stdout. */
export interface CliFailure {
  /** A QantaraError code, or USAGE (the command line), CHAIN_REFUSED (an EVM node or contract said no), INTERNAL. */
  error: string
  message: string
  exitCode: number
}

/** The exit code of a QantaraError code. */
export function exitCodeOf(code: ErrorCode): number {
  return EXIT[CLASS_OF_CODE[code]]
}

/** What the OS says about a file the command was given: the command's to fix. */
const FILE_ERRNO = new Set(['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR', 'EPERM', 'EEXIST'])
const NET_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
])

/** Any error a command ends with, classed: QantaraErrors by code, then what commander, viem and Node throw. */
export function failureOf(err: unknown): CliFailure {
  if (isQantaraError(err)) return { error: err.code, message: err.message, exitCode: exitCodeOf(err.code) }
  const message = errorMessage(err)
  if (err instanceof CommanderError) {
    // Help and --version end through here too, with exit code 0; a command group run without its subcommand shows its help.
    const usage = err.code === 'commander.help' ? 'a subcommand is needed: see --help' : message
    return { error: 'USAGE', message: usage, exitCode: err.exitCode === 0 ? EXIT.OK : EXIT.USAGE }
  }
  if (err instanceof ViemError) {
    // An RPC that is down, slow, rate-limiting or failing inside is one to ask again, not a chain's refusal.
    const transport = err.walk(
      (e) =>
        e instanceof HttpRequestError ||
        e instanceof ViemTimeoutError ||
        e instanceof WebSocketRequestError ||
        e instanceof SocketClosedError ||
        e instanceof LimitExceededRpcError ||
        e instanceof InternalRpcError ||
        e instanceof ResourceUnavailableRpcError ||
        e instanceof UnknownRpcError,
    )
    if (transport) return { error: 'RPC_UNAVAILABLE', message: err.shortMessage, exitCode: EXIT.UNREACHABLE }
    // Anything else viem throws is an answer: a revert, a node refusing the transaction, a contract that is not there.
    const revert = err.walk((e) => e instanceof ContractFunctionRevertedError) as
      ContractFunctionRevertedError | undefined
    const name = revert?.data?.errorName ?? revert?.reason
    return {
      error: 'CHAIN_REFUSED',
      message: name ? `${err.shortMessage} ${name}` : err.shortMessage,
      exitCode: EXIT.REFUSED,
    }
  }
  const errno = causeErrno(err)
  if (errno && FILE_ERRNO.has(errno)) return { error: 'CONFIG_UNREADABLE', message, exitCode: EXIT.USAGE }
  if ((errno && NET_ERRNO.has(errno)) || (err instanceof Error && err.name === 'TimeoutError'))
    return { error: 'ENDPOINT_UNREACHABLE', message, exitCode: EXIT.UNREACHABLE }
  return { error: 'INTERNAL', message, exitCode: EXIT.INTERNAL }
}

/** The errno code of an error or of the first cause that has one (fetch puts it on its cause). */
function causeErrno(err: unknown, depth = 0): string | undefined {
  if (!(err instanceof Error) || depth > 4) return undefined
  const code = (err as NodeJS.ErrnoException).code
  return typeof code === 'string' ? code : causeErrno(err.cause, depth + 1)
}
