/**
 * What one release costs the relayer that sends it, in lamports, with room:
 * a signature's fee (5,000) and the rent of the order's receipt token account
 * (~2,039,280), which the release creates and freezes for good.
 */
export const RELEASE_COST_LAMPORTS = 2_500_000n
