import { spawn, type ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

export interface AnvilOptions {
  chainId?: number
  /** Seconds between blocks; undefined mines one block per transaction. */
  blockTime?: number
  accounts?: number
  extraArgs?: string[]
}

export interface Anvil {
  rpcUrl: string
  port: number
  process: ChildProcess
  stop(): Promise<void>
}

/** The anvil binary shipped inside the npm package @foundry-rs/anvil. */
export function anvilBinary(): string {
  const require = createRequire(import.meta.url)
  const pkg = require.resolve(
    `@foundry-rs/anvil-${process.platform}-${process.arch === 'x64' ? 'amd64' : process.arch}/package.json`,
  )
  return join(dirname(pkg), 'bin', 'anvil')
}

/** Starts anvil on a free loopback port and resolves once it is listening. */
export function startAnvil(options: AnvilOptions = {}): Promise<Anvil> {
  const args = ['--host', '127.0.0.1', '--port', '0', '--chain-id', String(options.chainId ?? 31337)]
  args.push('--accounts', String(options.accounts ?? 10), '--hardfork', 'cancun')
  if (options.blockTime !== undefined) args.push('--block-time', String(options.blockTime))
  args.push(...(options.extraArgs ?? []))
  const child = spawn(anvilBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] })
  // A node that outlives the process that started it would hold its port and memory until reboot.
  const reap = () => child.kill('SIGKILL')
  process.once('exit', reap)
  child.once('exit', () => process.removeListener('exit', reap))
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => fail(new Error(`anvil did not start within 15 s:\n${out}`)), 15_000)
    const fail = (err: Error) => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(err)
    }
    child.once('error', fail)
    child.once('exit', (code) => fail(new Error(`anvil exited with ${code}:\n${out}`)))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /Listening on 127\.0\.0\.1:(\d+)/.exec(out)
      if (!m) return
      clearTimeout(timer)
      child.removeAllListeners('exit')
      child.stdout.removeAllListeners('data')
      child.stdout.resume()
      const port = Number(m[1])
      resolve({
        rpcUrl: `http://127.0.0.1:${port}`,
        port,
        process: child,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done()
            child.once('exit', () => done())
            child.kill('SIGTERM')
          }),
      })
    })
  })
}
