import { execFile, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from '../freePort.js'
import { startLocalNode } from './localNode.js'
import { BitcoinRpc } from '../../adapters/bitcoin/rpc.js'

export const BTCD_MODULE = 'github.com/btcsuite/btcd@v0.24.2'

export interface Btcd {
  rpc: BitcoinRpc
  rpcUrl: string
  user: string
  password: string
  process: ChildProcess
  stop(): Promise<void>
}

/**
 * The btcd binary: $QANTARA_BTCD, or a copy built once with `go install` into
 * a cache folder outside the repository (btcd ships no binaries to npm).
 */
export async function btcdBinary(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.QANTARA_BTCD) return env.QANTARA_BTCD
  const dir = join(
    env.XDG_CACHE_HOME ?? join(homedir(), '.cache'),
    'qantara',
    BTCD_MODULE.replace(/[/@]/g, '_'),
  )
  const binary = join(dir, 'btcd')
  if (existsSync(binary)) return binary
  mkdirSync(dir, { recursive: true })
  await promisify(execFile)('go', ['install', BTCD_MODULE], {
    env: { ...env, GOBIN: dir, GOFLAGS: '-mod=mod' },
    timeout: 15 * 60_000,
    cwd: tmpdir(),
  })
  return binary
}

/**
 * Starts btcd in regtest on loopback, TLS off (loopback only), with a tx index
 * and an address index (the solver finds its coins with it), coinbases paid
 * to `miningAddress`; resolves once its RPC answers.
 */
export async function startBtcd(o: { miningAddress: string }): Promise<Btcd> {
  const binary = await btcdBinary()
  const dir = mkdtempSync(join(tmpdir(), 'qantara-btcd-'))
  const port = await freePort()
  const user = 'qantara'
  const password = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex')
  const rpcUrl = `http://127.0.0.1:${port}`
  const rpc = new BitcoinRpc({ url: rpcUrl, user, password, timeoutMs: 10_000 })
  const node = await startLocalNode({
    name: 'btcd',
    binary,
    dir,
    timeoutMs: 20_000,
    ready: () => rpc.getBlockCount().then(() => true),
    args: [
      '--regtest',
      '--notls',
      '--txindex',
      '--addrindex',
      '--nolisten',
      `--miningaddr=${o.miningAddress}`,
      `--rpclisten=127.0.0.1:${port}`,
      `--rpcuser=${user}`,
      `--rpcpass=${password}`,
      `--datadir=${join(dir, 'data')}`,
      `--logdir=${join(dir, 'log')}`,
      '--debuglevel=warn',
    ],
  })
  return { rpc, rpcUrl, user, password, ...node }
}
