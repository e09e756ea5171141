/** A vault chain in the devnet (Solana, Cosmos): deposits made as a renter's wallet makes them, releases read back from the chain. */
export interface DevnetVault {
  /** The token orders are paid in, as the order table names it. */
  token: string
  /** Deposits `amount` into the vault with the order memo. */
  open(o: {
    providerId: `0x${string}`
    amount: bigint
    start: bigint
    slotLength: number
    slots: number
    /** The provider is paid in BTC to `script` by the devnet's solver, at `satsPerE18`, by `payoutDeadline`. */
    btc?: { script: string; satsPerE18: bigint; payoutDeadline: bigint }
  }): Promise<{ orderId: `0x${string}`; txHash: string }>
  /** A deposit with no memo, as a renter's mistake would be; the quorum refunds it. Returns the refund order's id. */
  stray(amount: bigint): Promise<{ orderId: `0x${string}`; txHash: string }>
  /** What the vault's release of `orderId` paid, from the chain's own record of it. */
  released(
    orderId: string,
  ): Promise<{ toProvider: bigint; toRenter: bigint; fee: bigint; txHash: string } | undefined>
  stop(): Promise<void>
}
