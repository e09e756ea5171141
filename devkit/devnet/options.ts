/** The devnet's flags, as `devkit/cli.ts devnet` parses them. */
export interface DevnetOptions {
  json?: boolean
  slotSeconds: number
  slots: number
  dir: string
  relayers: number
  threshold: number
  /** 1-based index of a relayer to kill mid-run and leave down. */
  killRelayer?: number
  /** 1-based index of a relayer that forges heartbeats and signs inflated settlements. */
  byzantine?: number
  /** Adds btcd in regtest, a solver, and an order whose provider is paid in BTC. */
  btc?: boolean
  /** Adds a Solana vault (litesvm) and an order paid into it. */
  solana?: boolean
  /** Adds a Cosmos vault (simd, built from Go modules on first use) and an order paid into it. */
  cosmos?: boolean
  /** Keeps the market up once the orders settle, until interrupted: the dashboard stays up to look at. */
  keep?: boolean
  /** URLs every relayer sends every webhook event to. */
  webhook?: string[]
}

export type Progress = (line: string) => void
