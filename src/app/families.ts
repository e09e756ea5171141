/**
 * The chain families, each one adapter record: the one place that knows
 * them all. `FAMILIES` must hold exactly one adapter per settlement family,
 * so adding a family to FAMILY_NAMESPACE fails to compile until it is wired;
 * everything below is a lookup in it, never a switch.
 */
import { z } from 'zod'
import { cosmosFamily } from '../../adapters/cosmos/family.js'
import { evmFamily } from '../../adapters/evm/family.js'
import { solanaFamily } from '../../adapters/solana/family.js'
import { FAMILY_NAMESPACE, familyOfChain } from '../caip2.js'
import type { ChainRuntime, Cosigner } from '../chains.js'
import type { RelayerSetTool } from '../relayerSet.js'
import { readSecret } from '../config/keySource.js'
import type { QuorumMember } from '../config/schema.js'
import { QantaraError } from '../errors.js'
import type {
  DoctorCheck,
  DoctorQuorum,
  FamilyAdapter,
  FamilyChainConfig,
  FamilySigner,
  SettlementFamily,
  VaultAccount,
} from '../family.js'
import type { DeploymentRecord } from '../config/deployment.js'
import type { RpcObserver } from '../http/endpointFailover.js'
import type { Logger } from '../log.js'
import type { Store } from '../store/store.js'

export const FAMILIES = { evm: evmFamily, solana: solanaFamily, cosmos: cosmosFamily } satisfies {
  [F in SettlementFamily]: FamilyAdapter<FamilyChainConfig & { family: F }, FamilySigner & { family: F }>
}

type ConfigOf<F extends SettlementFamily> = z.output<(typeof FAMILIES)[F]['configSchema']>
type SignerOf<F extends SettlementFamily> = ReturnType<(typeof FAMILIES)[F]['loadSigner']>

export type ChainConfig = ConfigOf<SettlementFamily>
/** What a chain's relayer key unlocks, typed by its family: an address, checked against the quorum config, and the family's own key. */
export type ChainSigner = SignerOf<SettlementFamily>

/** The same record, each adapter seen through its family's config and signer types, so a lookup by family keeps them together. */
const ADAPTERS: { [F in SettlementFamily]: FamilyAdapter<ConfigOf<F>, SignerOf<F>> } = FAMILIES

export function adapterOf<F extends SettlementFamily>(family: F): FamilyAdapter<ConfigOf<F>, SignerOf<F>> {
  return ADAPTERS[family]
}

const SUPPORTED = Object.keys(FAMILIES)

export const chainConfigSchema = z.discriminatedUnion(
  'family',
  [FAMILIES.evm.configSchema, FAMILIES.solana.configSchema, FAMILIES.cosmos.configSchema],
  {
    error: (iss) =>
      iss.code === 'invalid_union'
        ? `unknown chain family; supported: ${SUPPORTED.join(', ')} (known to the design: ${Object.keys(FAMILY_NAMESPACE).join(', ')})`
        : undefined,
  },
)

export function loadChainSigner(chain: ChainConfig, env: NodeJS.ProcessEnv, baseDir: string): ChainSigner {
  return adapterOf(chain.family).loadSigner(chain, readSecret(chain.key, env, baseDir))
}

/** Why a chain's key is not the one the quorum config names for this relayer, if it is not. */
export function memberKeyProblem(
  chain: ChainConfig,
  signer: ChainSigner,
  self: QuorumMember,
): string | undefined {
  return adapterOf(chain.family).memberKeyProblem(chain, signer, self)
}

/** The fields a family's deployment record may fill, for the config loader; none for an unknown family. */
export function deploymentFieldsOf(family: string) {
  return Object.hasOwn(FAMILIES, family) ? adapterOf(family as SettlementFamily).deploymentFields : undefined
}

/** `qantara doctor`'s checks of one chain, with the key this relayer signs with there. */
export function chainDoctor(
  chain: ChainConfig,
  signer: ChainSigner,
  quorum: DoctorQuorum,
  deployment?: DeploymentRecord,
): Promise<DoctorCheck[]> {
  return adapterOf(chain.family).doctor(chain, signer, quorum, deployment)
}

/** Builds the runtime of every configured chain, with the signer its key unlocked; `cosign` reaches peers where releases are co-signed. */
export function buildChainRuntimes(
  config: { chains: ChainConfig[]; quorum: { members: QuorumMember[] } },
  signers: ChainSigner[],
  store: Store,
  logger: Logger,
  cosign: Cosigner,
  observeRpc?: (chain: string) => RpcObserver,
): ChainRuntime[] {
  return config.chains.map((chain, i) =>
    adapterOf(chain.family).runtime(chain, signers[i]!, {
      members: config.quorum.members,
      store,
      logger,
      cosign,
      ...(observeRpc ? { observeRpc: observeRpc(chain.id) } : {}),
    }),
  )
}

/** The operator's rotation tool for one configured chain, signing with this relayer's key there. */
export function relayerSetTool(chain: ChainConfig, signer: ChainSigner): RelayerSetTool {
  const adapter = adapterOf(chain.family)
  if (adapter.custody === 'vault')
    throw new QantaraError('CONFIG_INVALID', `${chain.id}: ${adapter.fixedRelayerSet}`)
  return adapter.relayerSetTool(chain, signer)
}

/** An account on a vault chain, as raw bytes (what an order memo carries) and in the form the chain's watcher names it. */
export function vaultAccount(chain: string, address: string): VaultAccount {
  const family = familyOfChain(chain)
  const adapter = family && isSettlementFamily(family) ? adapterOf(family) : undefined
  if (adapter?.custody !== 'vault')
    throw new QantaraError(
      'CONFIG_INVALID',
      `${chain} is not a vault chain: open escrow orders with \`qantara order open\``,
    )
  return adapter.vaultAccount(address)
}

/** Whether a chain's orders are held by an escrow contract or by a vault; undefined for a chain of no family served here. */
export function custodyOf(chain: string): 'escrow' | 'vault' | undefined {
  const family = familyOfChain(chain)
  return family && isSettlementFamily(family) ? adapterOf(family).custody : undefined
}

function isSettlementFamily(family: string): family is SettlementFamily {
  return Object.hasOwn(FAMILIES, family)
}
