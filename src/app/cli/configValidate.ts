import { adapterOf } from '../families.js'
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
  out(
    `${file}: valid — relayer ${config.relayer.id}, ${config.chains.length} chain(s), threshold ${config.quorum.threshold} of ${config.quorum.members.length}`,
  )
  config.chains.forEach((c, i) => {
    const adapter = adapterOf(c.family)
    out(
      `  ${c.id} (${c.family}): ${adapter.custody} ${adapter.custodian(c)}, signer ${signers[i]?.address ?? '?'}`,
    )
  })
  for (const c of config.chains)
    for (const warning of adapterOf(c.family).configWarnings(c)) out(`  warning: ${warning}`)
  return 0
}
