import type { z } from 'zod'
import type { Family } from './caip2.js'
import type { ChainRuntime, Cosigner, Watcher } from './chains.js'
import type { RelayerSetTool } from './relayerSet.js'
import type { DeploymentRecord } from './config/deployment.js'
import type { SecretMaterial } from './config/keySource.js'
import type { QuorumMember } from './config/schema.js'
import type { RpcObserver } from './http/endpointFailover.js'
import type { Logger } from './log.js'
import type { BtcPayoutTerms } from './order.js'
import type { Store } from './store/store.js'

/** The families a relayer settles orders on; Bitcoin is a payout rail, configured apart. */
export type SettlementFamily = Exclude<Family, 'bitcoin'>

/** What every family's chain config holds; the rest is the family's own. */
export interface FamilyChainConfig {
  readonly family: SettlementFamily
  readonly id: string
}

/** A relayer's key on one chain, unlocked: its address there, beside what the family signs with. */
export interface FamilySigner {
  readonly family: SettlementFamily
  readonly address: string
}

/** What a chain's runtime is built from besides its config and the relayer's key. */
export interface RuntimeParts {
  /** The quorum; each member names its key on every family it serves. */
  members: readonly QuorumMember[]
  store: Store
  logger: Logger
  /** Reaches peers, for releases every signer co-signs. */
  cosign: Cosigner
  /** Told of each request to the chain's RPC endpoints. */
  observeRpc?: RpcObserver
}

/** A problem of one chain's config that only the rest of the relayer config shows, at a path inside the chain's entry. */
export interface ChainConfigIssue {
  path: (string | number)[]
  message: string
}

/** An account on a vault chain: raw bytes (what an order memo carries) and the form the chain's watcher names it by. */
export interface VaultAccount {
  bytes: Uint8Array
  canonical: string
}

/** One escrow chain as a solver uses it: it watches settled orders, and signs quotes for orders in `tokens`. */
export interface SolverChain {
  chain: string
  /** The solver's address there: orders quoting another solver are someone else's. */
  address: string
  pollIntervalMs: number
  /** The chain's watcher, as the solver runs it over its store (whose committed chain events it may read). */
  watch(store: Pick<Store, 'listOrderEvents'>): Watcher
  quote(q: { orderId: string; token: string } & Omit<BtcPayoutTerms, 'solver'>): Promise<string>
  /** The tokens quoted, as the watcher names them. */
  tokens: Set<string>
  /** Where a vault's order memo names the solver by its public key rather than its address (Cosmos): that key, hex. */
  memoKey?: string
}

/** A relayer's key on a family's chains, for `qantara keys`. */
export interface FamilyKeys<Config = never> {
  /** The quorum member field that names it. */
  readonly memberField: 'evm' | 'solana' | 'cosmos'
  /** A new key, as its key file holds it: the secret, for a 0600 file, never printed. */
  generate(): string
  /** Its public parts: the member field's value, and the account to fund (under `prefix` where addresses carry one). */
  publicParts(secret: SecretMaterial, prefix?: string): { member: string; account?: string }
  /** The address prefix of a chain's accounts, where the family's addresses carry one. */
  prefix?(config: Config): string
  /** The key as an encrypted keystore file, where the family's tools read one. */
  keystore?(key: string, password: string): string
}

/** One online check of `qantara doctor`: what it looked at, what it found, and what to do where that is a problem. */
export interface DoctorCheck {
  subject: string
  level: 'ok' | 'warn' | 'problem'
  detail: string
  fix?: string
}

/** What a chain's checks know of the quorum besides the chain's config and this relayer's key. */
export interface DoctorQuorum {
  threshold: number
  members: readonly QuorumMember[]
}

/** What every family provides, whatever holds its orders' funds. */
interface FamilyParts<Config extends FamilyChainConfig, Signer extends FamilySigner> {
  readonly family: Config['family']
  /** The family's branch of the relayer config's `chains`. */
  readonly configSchema: z.ZodType<Config>
  /** The relayer's key on a chain of the family, from its secret. */
  loadSigner(config: Config, secret: SecretMaterial): Signer
  readonly keys: FamilyKeys<Config>
  /** Why `signer` is not the key the quorum config gives `self` on this chain, if it is not. */
  memberKeyProblem(config: Config, signer: Signer, self: QuorumMember): string | undefined
  /** Problems of a chain config against the quorum that serves it. */
  quorumProblems(config: Config, quorum: { threshold: number }): ChainConfigIssue[]
  /** The chain as the relayer core sees it. */
  runtime(config: Config, signer: Signer, parts: RuntimeParts): ChainRuntime
  /** Where a chain's orders' funds are held: its escrow contract or its vault. */
  custodian(config: Config): string
  /**
   * The chain config fields a deployment record may fill: `shared` for every
   * relayer, `member` for one member's own entry. Nothing else: a record is a
   * file operators pass around, and must not reach keys, RPCs, fee recipients
   * or anything the quorum must agree on.
   */
  readonly deploymentFields: { readonly shared: readonly string[]; readonly member: readonly string[] }
  /** Choices that are valid but risky, for `config validate` to point out. */
  configWarnings(config: Config): string[]
  /**
   * The chain as a running relayer needs it, read from its RPCs: `qantara
   * doctor`. `deployment` is the record the chain's config names, if any: its
   * transactions are leads, checked on chain. Never throws; an unreachable
   * RPC is a check.
   */
  doctor(
    config: Config,
    signer: Signer,
    quorum: DoctorQuorum,
    deployment?: DeploymentRecord,
  ): Promise<DoctorCheck[]>
}

/** A family whose escrow contract holds each order; the relayer set it trusts can be rotated on chain. */
export interface EscrowFamily<
  Config extends FamilyChainConfig,
  Signer extends FamilySigner,
> extends FamilyParts<Config, Signer> {
  readonly custody: 'escrow'
  /** Whether its escrows take orders whose provider is paid in BTC, and so whether a solver serves them. */
  readonly btcPayouts: boolean
  /** The operators' tool to rotate the relayer set, signing with this relayer's key. */
  relayerSetTool(config: Config, signer: Signer): RelayerSetTool
  /** A solver's view of one of its chains, quoting `tokens` (`native` or token addresses; absent: the native asset only). */
  solverChain(
    config: Config,
    signer: Signer,
    tokens: readonly string[] | undefined,
    logger: Logger,
  ): SolverChain
}

/** A family without escrow contracts: deposits sit in a vault under the relayers' multisig. */
export interface VaultFamily<
  Config extends FamilyChainConfig,
  Signer extends FamilySigner,
> extends FamilyParts<Config, Signer> {
  readonly custody: 'vault'
  /** Whether its vaults can take orders whose provider is paid in BTC (where the operators set a cap), and so whether a solver serves them. */
  readonly btcPayouts: boolean
  /** Why a vault's relayer set cannot change in place, and what an operator does instead. */
  readonly fixedRelayerSet: string
  /** A solver's view of one of its vaults, where the family's vaults take BTC orders (`EscrowFamily.solverChain`). */
  solverChain?(
    config: Config,
    signer: Signer,
    tokens: readonly string[] | undefined,
    logger: Logger,
  ): SolverChain
  vaultAccount(text: string): VaultAccount
}

/**
 * One chain family, everything the composition root needs of it, with what
 * it can do stated rather than probed. Each adapter exports one; the root
 * holds them all in one record keyed by family.
 */
export type FamilyAdapter<Config extends FamilyChainConfig, Signer extends FamilySigner> =
  EscrowFamily<Config, Signer> | VaultFamily<Config, Signer>
