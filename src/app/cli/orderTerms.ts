import { InvalidArgumentError, type Command } from 'commander'
import { GPU_CLASSES } from '../../gpu/classes.js'
import { parseGpuRequirement, type GpuRequirement } from '../../gpu/requirement.js'

/** The terms every order has, whatever chain holds its payment: `order open` and `order memo` take the same flags. */
export function orderTermOptions(cmd: Command, start: string): Command {
  return cmd
    .requiredOption('--provider <id>', 'provider id (its ed25519 public key), from `qantara providers list`')
    .requiredOption('--slots <n>', 'number of slots', (v) => Number.parseInt(v, 10))
    .requiredOption(
      '--gpu <COUNTxCLASS[:VRAM]>',
      `the GPUs rented, e.g. 1xhopper-h100 or 2xada-rtx40:24000MiB; classes: ${GPU_CLASSES.filter(
        (c) => !c.testOnly,
      )
        .map((c) => c.id)
        .join(', ')}`,
      gpuOption,
    )
    .option('--slot-length <seconds>', 'slot length in seconds', (v) => Number.parseInt(v, 10), 60)
    .option('--start <unix|+seconds>', 'start time: unix seconds, or +N from now', start)
    .option('--relayer <url>', "relayer API to look the provider's payout address up at")
    .option('--payout <address>', "provider payout address on the order's chain (instead of --relayer)")
}

function gpuOption(text: string): GpuRequirement {
  try {
    return parseGpuRequirement(text)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
}
