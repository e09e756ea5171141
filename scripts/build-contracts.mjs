// Compiles adapters/evm/contracts/*.sol with solc-js and writes one TypeScript
// artifact per contract (ABI `as const`, bytecode). Run: npm run build:contracts
// With --check it writes nothing and exits 1 when the committed artifacts differ;
// --dir points it at another contracts folder (used by the artifact test).
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compileContracts, renderArtifact } from './solc.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dirFlag = process.argv.indexOf('--dir')
const dir = dirFlag > 0 ? process.argv[dirFlag + 1] : join(root, 'adapters/evm/contracts')
const check = process.argv.includes('--check')

const sources = Object.fromEntries(
  readdirSync(dir)
    .filter((f) => f.endsWith('.sol'))
    .map((f) => [f, readFileSync(join(dir, f), 'utf8')]),
)
const contracts = compileContracts(sources)
let stale = 0
for (const [name, artifact] of Object.entries(contracts)) {
  const path = join(dir, 'artifacts', `${name}.ts`)
  const text = renderArtifact(name, artifact)
  if (check) {
    if (!existsSync(path) || readFileSync(path, 'utf8') !== text) {
      console.error(`stale artifact: ${path}`)
      stale++
    }
  } else {
    writeFileSync(path, text)
    console.log(`wrote ${path} (${(artifact.bytecode.length - 2) / 2} bytes of init code)`)
  }
}
if (stale) process.exitCode = 1
