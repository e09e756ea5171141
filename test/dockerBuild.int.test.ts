import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { tempDir } from './support/tmp.js'

// No Docker engine runs here, so this performs docker/Dockerfile's steps itself, on exactly the files it copies from
// the build context that .dockerignore lets through: a missing COPY, or product code importing a file the image
// lacks or a dev-only package, fails here as it would in `docker build`. `npm ci` is replaced by the repository's
// installed packages (no network here), and `npm prune --omit=dev` by linking only the production ones. It runs on
// this machine's Node, not the image's, and does not rebuild native modules: what it proves is that the copied files
// build and that the product loads with its production packages alone.
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const tmp = tempDir()
afterAll(tmp.cleanup)

interface Stage {
  from: string
  workdir?: string
  copies: { from?: string; sources: string[]; dest: string }[]
  runs: string[]
  entrypoint?: string[]
  cmd?: string[]
}

/** The Dockerfile's stages, with the instructions this test performs (continuation lines joined). */
function stages(dockerfile: string): Stage[] {
  const lines = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
  const out: Stage[] = []
  for (const line of lines) {
    const [op, ...rest] = line.split(/\s+/)
    const args = rest.join(' ')
    if (op === 'FROM') out.push({ from: args, copies: [], runs: [] })
    const stage = out.at(-1)!
    if (op === 'WORKDIR') stage.workdir = args
    if (op === 'RUN') stage.runs.push(args)
    if (op === 'ENTRYPOINT') stage.entrypoint = JSON.parse(args) as string[]
    if (op === 'CMD') stage.cmd = JSON.parse(args) as string[]
    if (op === 'COPY') {
      const from = rest[0]?.startsWith('--from=') ? rest.shift()!.slice('--from='.length) : undefined
      out.at(-1)!.copies.push({ ...(from ? { from } : {}), sources: rest.slice(0, -1), dest: rest.at(-1)! })
    }
  }
  return out
}

/** Whether .dockerignore's allow-list (`**`, then `!path` or `!dir/**`) lets `source` into the build context. */
function allowed(dockerignore: string, source: string): boolean {
  const rules = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
  let inContext = true
  for (const rule of rules) {
    const negated = rule.startsWith('!')
    const pattern = negated ? rule.slice(1) : rule
    const matches = pattern === '**' || pattern === source || pattern === `${source}/**`
    if (matches) inContext = negated
  }
  return inContext
}

/** Links the production packages (and what they bring nested) into `dir`/node_modules, as `npm prune --omit=dev` leaves it. */
function productionModules(dir: string): void {
  const paths = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
    .split('\n')
    .map((p) => relative(ROOT, p.trim()))
    .filter((p) => p.startsWith('node_modules/') && p.split('node_modules/').length === 2)
  for (const p of new Set(paths)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true })
    symlinkSync(join(ROOT, p), join(dir, p))
  }
}

describe('docker/Dockerfile, performed without a Docker engine', () => {
  it('builds from only the files it copies and runs its entrypoint with production packages alone', () => {
    const [build, runtime] = stages(readFileSync(join(ROOT, 'docker/Dockerfile'), 'utf8'))
    expect(build?.from).toMatch(/^node:22-/)
    expect(runtime?.from).toMatch(/^node:22-/)
    const dockerignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    // The build stage: the context's files it copies, every one let through by .dockerignore.
    const buildDir = join(tmp.dir, 'build')
    mkdirSync(buildDir)
    for (const copy of build!.copies)
      for (const source of copy.sources) {
        expect(allowed(dockerignore, source), `.dockerignore keeps ${source} out of the context`).toBe(true)
        cpSync(join(ROOT, source), join(buildDir, copy.dest.endsWith('/') ? source : copy.dest), {
          recursive: true,
        })
      }
    // What must stay out of any context: keys, stores, the devnet.
    for (const secret of ['.devnet', '.git', 'node_modules', 'dist', 'data.sqlite'])
      expect(allowed(dockerignore, secret), secret).toBe(false)
    expect(build!.runs.some((r) => r.startsWith('npm ci'))).toBe(true)
    symlinkSync(join(ROOT, 'node_modules'), join(buildDir, 'node_modules'))
    const compile = build!.runs.find((r) => r.includes('tsc'))!
    expect(compile).toMatch(/^npx tsc -p tsconfig\.build\.json && npm prune --omit=dev$/)
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: buildDir,
      },
    )
    // The runtime stage: what it copies from the build stage, with the production packages only.
    const runDir = join(tmp.dir, 'run')
    mkdirSync(runDir)
    for (const copy of runtime!.copies) {
      const from = copy.from === 'build' ? buildDir : ROOT
      for (const source of copy.sources) {
        const path = copy.from ? relative(build!.workdir ?? '/', source) : source
        if (path === 'node_modules') productionModules(runDir)
        else
          cpSync(join(from, path), join(runDir, copy.dest.endsWith('/') ? path : copy.dest), {
            recursive: true,
          })
      }
    }
    const [command, ...args] = [...runtime!.entrypoint!, ...runtime!.cmd!]
    expect(command).toBe('node')
    // --preserve-symlinks: a package resolves its own imports from the image's node_modules, not from where the
    // link points (the repository's, dev packages included), so a production package needing a dev one fails here.
    const help = execFileSync(process.execPath, ['--preserve-symlinks', ...args], {
      cwd: runDir,
      encoding: 'utf8',
    })
    for (const sub of ['relay', 'agent', 'keys', 'solver']) expect(help).toContain(sub)
    // A command that loads a chain family's code and writes a file, as an operator's first step would.
    const made = execFileSync(
      process.execPath,
      ['--preserve-symlinks', args[0]!, 'keys', 'new', 'evm', '--out', join(tmp.dir, 'evm.key')],
      { cwd: runDir, encoding: 'utf8' },
    )
    expect(made).toMatch(/evm: "0x[0-9a-fA-F]{40}"/)
  }, 120_000)
})
