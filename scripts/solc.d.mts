// Types for solc.mjs, so tests can compile test-only contracts with the project's settings.
export const SOLC_SETTINGS: Record<string, unknown>
export function compileContracts(sources: Record<string, string>): Record<string, { abi: readonly unknown[]; bytecode: `0x${string}` }>
export function renderArtifact(name: string, artifact: { abi: readonly unknown[]; bytecode: string }): string
