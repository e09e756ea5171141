import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export type Behaviour = (req: IncomingMessage, res: ServerResponse, body: string) => void

/** A loopback HTTP server that behaves however the current test says: the misbehaving provider agent. */
export async function startHostileAgent(): Promise<{
  url: string
  set(b: Behaviour): void
  close(): Promise<void>
}> {
  let behaviour: Behaviour = (_req, res) => res.writeHead(404).end()
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => (body += d.toString()))
    req.on('end', () => behaviour(req, res, body))
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    set: (b) => (behaviour = b),
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections()
        server.close(() => ok())
      }),
  }
}
