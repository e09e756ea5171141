import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'

export interface LocalNode {
  process: ChildProcess
  /** Stops the node (SIGTERM) and removes its data folder. */
  stop(): Promise<void>
}

export interface LocalNodeOptions {
  /** Named in errors. */
  name: string
  binary: string
  args: string[]
  /** The node's data folder, removed once it has stopped. */
  dir: string
  /** Whether the node answers yet; polled until it does. */
  ready(): Promise<boolean>
  timeoutMs: number
}

/**
 * Starts a local chain daemon (btcd, simd) for tests and the devnet: killed if
 * this process exits first, its data folder removed once it stops, and
 * resolved once `ready` says it answers, or refused with its last stderr.
 */
export async function startLocalNode(o: LocalNodeOptions): Promise<LocalNode> {
  const child = spawn(o.binary, o.args, { stdio: ['ignore', 'ignore', 'pipe'] })
  // A node that outlives the process that started it would hold its port and memory until reboot.
  const reap = () => child.kill('SIGKILL')
  process.once('exit', reap)
  child.once('exit', () => process.removeListener('exit', reap))
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4_000)))
  const stop = () =>
    new Promise<void>((done) => {
      const clean = () => {
        rmSync(o.dir, { recursive: true, force: true })
        done()
      }
      if (child.exitCode !== null || child.signalCode !== null) return clean()
      child.once('exit', clean)
      child.kill('SIGTERM')
    })
  const deadline = Date.now() + o.timeoutMs
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${o.name} exited with ${child.exitCode}: ${stderr}`)
    if (await o.ready().catch(() => false)) return { process: child, stop }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`${o.name} did not answer within ${o.timeoutMs / 1000} s: ${stderr}`)
    }
    await new Promise((r) => setTimeout(r, 200))
  }
}
