import { inspectConfig } from '../loadConfig.js'

/** `qantara config validate <file>`: prints every problem with its path; 0 when valid, 1 when not. */
export function configValidate(file: string, env: NodeJS.ProcessEnv, out: (line: string) => void): number {
  const { loaded, problems } = inspectConfig(file, env)
  if (!loaded) {
    out(`${file}: ${problems.length} problem(s)`)
    for (const p of problems) out(`  ${p.path}: ${p.message}`)
    return 1
  }
  const { config, signers } = loaded
  out(`${file}: valid — relayer ${config.relayer.id}, ${config.chains.length} chain(s), threshold ${config.quorum.threshold} of ${config.quorum.members.length}`)
  config.chains.forEach((c, i) => out(`  ${c.id} (${c.family}): ${c.family === 'evm' ? `escrow ${c.escrow}` : `vault ${c.vault}`}, signer ${signers[i]?.address ?? '?'}`))
  for (const c of config.chains) {
    // Valid, but expensive on a public chain: anyone can open an order in a token whose transfers burn the settler's gas.
    if (c.family === 'evm' && !c.tokens && c.id !== 'eip155:31337') out(`  warning: ${c.id} has no \`tokens\` list, so this relayer settles orders in any token at any amount and pays their gas`)
  }
  return 0
}
