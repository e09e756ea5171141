import { createServer, type Server } from 'node:net'

/** A loopback TCP port free at the time of asking, for local nodes and test servers. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, host)
  return port!
}

/**
 * `n` distinct loopback TCP ports free at the time of asking: every one is
 * held until all are found, so no two of them can be the same number.
 */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer()
      servers.push(s)
      await new Promise<void>((ok, fail) => {
        s.once('error', fail)
        s.listen(0, host, () => ok())
      })
    }
    return servers.map((s) => (s.address() as { port: number }).port)
  } finally {
    await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))))
  }
}
