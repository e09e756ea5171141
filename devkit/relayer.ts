import { loadConfig } from '../src/app/loadConfig.js'
import { startRelayer, type RelayerSeams, type RunningRelayer } from '../src/app/relayer.js'
import { createLogger, type Logger } from '../src/log.js'
import { byzantinePeerSource, byzantineStrategy } from './faults/byzantine.js'
import { slowPeer } from './faults/slowPeer.js'

/** The faults a devnet or test relayer runs with; none is ever part of a production config. */
export interface RelayerFaults {
  /** Forges heartbeats, serves its own to every other request, signs inflated settlements and serves malleated signatures. */
  byzantine?: boolean
  /** Answers every peer request this late. */
  peerDelayMs?: number
}

/** A relayer as `qantara relay` runs it from `configPath`, with the dev kit's faults wrapped around its parts. */
export async function startFaultyRelayer(
  configPath: string,
  faults: RelayerFaults,
  signal: AbortSignal,
): Promise<RunningRelayer> {
  const loaded = loadConfig(configPath, process.env)
  const logger = createLogger({ level: loaded.config.log.level, name: loaded.config.relayer.id })
  return startRelayer(loaded, logger, signal, faultSeams(faults, loaded.config.settlement.feeBps, logger))
}

function faultSeams(faults: RelayerFaults, feeBps: number, logger: Logger): RelayerSeams {
  if (faults.byzantine)
    logger.warn(
      'byzantine: this relayer forges heartbeats, withholds its own from every other request, serves a malleated signature and signs inflated settlements (testing only)',
    )
  if (faults.peerDelayMs)
    logger.warn(
      { peerDelayMs: faults.peerDelayMs },
      'slow peer: this relayer answers its peers late (testing only)',
    )
  return {
    ...(faults.byzantine ? { strategy: byzantineStrategy(feeBps), peerSource: byzantinePeerSource } : {}),
    ...(faults.peerDelayMs ? { peerHandler: slowPeer(faults.peerDelayMs) } : {}),
  }
}

/** The devkit CLI's arguments that start a relayer with `faults`. */
export function faultyRelayerArgs(configPath: string, faults: RelayerFaults): string[] {
  return [
    'relay',
    '--config',
    configPath,
    ...(faults.byzantine ? ['--byzantine'] : []),
    ...(faults.peerDelayMs ? ['--peer-delay-ms', String(faults.peerDelayMs)] : []),
  ]
}
