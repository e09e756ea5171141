import { execFile, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePorts } from '../freePort.js'
import { startLocalNode } from './localNode.js'

/**
 * The Cosmos SDK release whose reference chain the tests and the devnet run.
 * v0.46 is the newest line whose simapp is part of the SDK module itself:
 * from v0.47 simapp is `cosmossdk.io/simapp`, which this machine's module
 * proxy does not serve.
 */
export const SDK_VERSION = 'v0.46.16'

// The replace lines the SDK's own go.mod carries at that release; a module that requires it needs them too.
const WRAPPER_GO_MOD = `module qantara.local/simd

go 1.21

require github.com/cosmos/cosmos-sdk ${SDK_VERSION}

replace (
	github.com/99designs/keyring => github.com/cosmos/keyring v1.2.0
	github.com/dgrijalva/jwt-go => github.com/golang-jwt/jwt/v4 v4.4.2
	github.com/gin-gonic/gin => github.com/gin-gonic/gin v1.9.0
	github.com/gogo/protobuf => github.com/regen-network/protobuf v1.3.3-alpha.regen.1
	github.com/jhump/protoreflect => github.com/jhump/protoreflect v1.9.0
	github.com/syndtr/goleveldb => github.com/syndtr/goleveldb v1.0.1-0.20210819022825-2ae1ddf74ef7
	github.com/tendermint/tendermint => github.com/cometbft/cometbft v0.34.29
)
`
const WRAPPER_TOOLS = `//go:build tools

package tools

import _ "github.com/cosmos/cosmos-sdk/simapp/simd/cmd"
`

/**
 * The simd binary: $QANTARA_SIMD, or one built once from Go modules into a
 * cache folder outside the repository, through a small wrapper module.
 */
export async function simdBinary(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.QANTARA_SIMD) return env.QANTARA_SIMD
  const dir = join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'qantara', `simd-${SDK_VERSION}`)
  const binary = join(dir, 'simd')
  if (existsSync(binary)) return binary
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'go.mod'), WRAPPER_GO_MOD)
  writeFileSync(join(dir, 'tools.go'), WRAPPER_TOOLS)
  const go = (args: string[]) =>
    promisify(execFile)('go', args, {
      env: { ...env, GOFLAGS: '-mod=mod' },
      timeout: 30 * 60_000,
      cwd: dir,
      maxBuffer: 64 * 1024 * 1024,
    })
  await go(['mod', 'tidy'])
  await go(['build', '-o', `${binary}.partial`, 'github.com/cosmos/cosmos-sdk/simapp/simd'])
  // Renamed only once whole: a build cut short never passes for a binary.
  await promisify(execFile)('mv', [`${binary}.partial`, binary])
  return binary
}

export interface Simd {
  rpcUrl: string
  chainId: string
  /** The bank denom genesis funds and fees are in. */
  denom: string
  process: ChildProcess
  stop(): Promise<void>
}

export interface SimdOptions {
  /** Genesis balances, e.g. `{ address: 'cosmos1…', coins: '1000000000stake,500ibc/…' }`. */
  accounts: { address: string; coins: string }[]
  chainId?: string
  /** CometBFT block interval. */
  blockMs?: number
  /** x/auth's memo limit (256 by default on simd). */
  maxMemoCharacters?: number
}

/**
 * A one-validator simd chain on loopback with short blocks: genesis accounts
 * funded, gRPC and REST off, the CometBFT RPC on a free port, the tx index on
 * (watchers search it). Resolves once the first block is committed.
 */
export async function startSimd(o: SimdOptions): Promise<Simd> {
  const binary = await simdBinary()
  const home = mkdtempSync(join(tmpdir(), 'qantara-simd-'))
  const chainId = o.chainId ?? 'qantara-local'
  const denom = 'stake'
  const run = (args: string[]) => promisify(execFile)(binary, [...args, '--home', home], { timeout: 60_000 })
  await run(['init', 'qantara', '--chain-id', chainId])
  await run(['keys', 'add', 'validator', '--keyring-backend', 'test'])
  const validator = (
    await run(['keys', 'show', 'validator', '-a', '--keyring-backend', 'test'])
  ).stdout.trim()
  await run(['add-genesis-account', validator, `100000000000${denom}`])
  for (const a of o.accounts) await run(['add-genesis-account', a.address, a.coins])
  await run(['gentx', 'validator', `1000000000${denom}`, '--chain-id', chainId, '--keyring-backend', 'test'])
  await run(['collect-gentxs'])
  const genesisPath = join(home, 'config', 'genesis.json')
  const genesis = JSON.parse(readFileSync(genesisPath, 'utf8')) as {
    app_state: { auth: { params: { max_memo_characters: string } } }
    consensus_params: { block: { time_iota_ms: string } }
  }
  if (o.maxMemoCharacters) genesis.app_state.auth.params.max_memo_characters = String(o.maxMemoCharacters)
  // CometBFT 0.34 dates each block at least time_iota_ms (1 s by default) after the last: with short blocks the chain's
  // clock would run ahead of the wall clock, and vault orders are judged against block time.
  genesis.consensus_params.block.time_iota_ms = '1'
  writeFileSync(genesisPath, JSON.stringify(genesis))
  const [rpcPort, p2pPort] = (await freePorts(2)) as [number, number]
  const configPath = join(home, 'config', 'config.toml')
  writeFileSync(
    configPath,
    readFileSync(configPath, 'utf8')
      .replace(/^timeout_commit = .*$/m, `timeout_commit = "${o.blockMs ?? 200}ms"`)
      .replace(/^laddr = "tcp:\/\/127\.0\.0\.1:26657"$/m, `laddr = "tcp://127.0.0.1:${rpcPort}"`)
      .replace(/^laddr = "tcp:\/\/0\.0\.0\.0:26656"$/m, `laddr = "tcp://127.0.0.1:${p2pPort}"`),
  )
  const rpcUrl = `http://127.0.0.1:${rpcPort}`
  const committed = async () =>
    Number(
      (
        (await (await fetch(`${rpcUrl}/status`)).json()) as {
          result: { sync_info: { latest_block_height: string } }
        }
      ).result.sync_info.latest_block_height,
    ) >= 1
  const node = await startLocalNode({
    name: 'simd',
    binary,
    dir: home,
    timeoutMs: 30_000,
    ready: committed,
    args: [
      'start',
      '--home',
      home,
      '--grpc.enable=false',
      '--api.enable=false',
      `--minimum-gas-prices=0${denom}`,
    ],
  })
  return { rpcUrl, chainId, denom, ...node }
}
