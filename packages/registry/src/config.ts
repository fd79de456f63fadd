import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { loadSites, parseHostPort, type SiteConfig } from '@flexseat/config'
import { type DirectorySyncConfig, loadDirectorySyncConfig } from '@flexseat/directory-sync'
import { loadTokensFile, type TokenEntry } from './auth'
import type { TlsMaterial } from './grpc-server'
import type { CallListPolicy } from './call-list'
import type { DeskThrottlePolicy } from './desk-throttle'
import type { LockoutPolicy } from './lockout'
import type { SeatHistoryPolicy } from './seat-history'
import { type PolicyUnits, REAL_UNITS, SECOND_UNITS } from './seat-policy'
import type { SessionPolicy } from './sessions'
import type { TxnLimits } from './txn-limits'

/** The registry process' configuration, loaded and validated once by {@link loadRegistryConfig}. */
export interface RegistryConfig {
  site: SiteConfig
  /** Every site of the sites folder (sorted by id). */
  sites: readonly SiteConfig[]
  /** etcd client URLs, nearest first (default: the site's own `etcd.client_url`, then every other site's). */
  etcdEndpoints: readonly string[]
  /** Key prefix in etcd (default `flexseat/`). */
  etcdPrefix: string
  /** host:port to bind (default the site's `registry.listen`; port 0: a free port). */
  listen: string
  /** host:port other instances forward writes to (default: the bound address). */
  advertiseAddress: string | undefined
  /** Empty when no tokens file is configured: then every call is refused. */
  tokens: readonly TokenEntry[]
  tokensFile: string | undefined
  /** Presented to the leader when forwarding writes. */
  clusterToken: string | undefined
  /** Default 3; at least 2 (etcd's minimum lease TTL: with 1 the leader flaps). */
  leaseTtlSeconds: number
  /**
   * Whether the leading instance moves etcd's raft leadership to its own member, the first of
   * {@link etcdEndpoints} (FLEXSEAT_MOVE_ETCD_LEADER, `true` or `false`, default false;
   * etcd-leader-placement.ts), and the least time between two moves
   * (FLEXSEAT_MOVE_ETCD_LEADER_INTERVAL_SECONDS, default 30, 1 to 3600), in ms.
   */
  etcdLeaderPlacement: { enabled: boolean; minIntervalMs: number }
  /**
   * TTL of the branches' confirmation leases (FLEXSEAT_CONFIRMATION_LEASE_SECONDS, default 5,
   * 2 to 60): the bound of bounded revocation (invariant 4, docs/OPERATIONS.md).
   */
  confirmationLeaseSeconds: number
  /**
   * Wrong-PIN lockout (lockout.ts): FLEXSEAT_LOCKOUT_MAX_FAILURES, wrong PINs for a worker at
   * one desk that lock them there, default 5; FLEXSEAT_LOCKOUT_CLUSTER_MAX_FAILURES, wrong PINs
   * for a worker from several desks that lock them everywhere, default three times the former;
   * FLEXSEAT_LOCKOUT_WINDOW_SECONDS, default 900; FLEXSEAT_LOCKOUT_SECONDS, default 900. In the
   * core's units (ms).
   */
  lockout: LockoutPolicy
  /**
   * etcd's transaction limits, which must match the cluster's flags (FLEXSEAT_ETCD_MAX_TXN_OPS,
   * etcd's `--max-txn-ops`, default 128, 32 to 100000; FLEXSEAT_ETCD_MAX_REQUEST_BYTES,
   * `--max-request-bytes`, default 1572864, 65536 to 2147483647): batches are split by them.
   */
  txnLimits: TxnLimits
  /**
   * Group commit of logins on the leader (FLEXSEAT_GROUP_COMMIT, `true` or `false`, default
   * true): concurrent logins of different workers at different desks share one fenced etcd
   * transaction (group-commit.ts). `false` gives each login its own, as before issue 15.
   */
  groupCommit: boolean
  /**
   * Wrong PINs at one desk, for any workers (FLEXSEAT_DESK_THROTTLE_MAX_FAILURES, default 10;
   * FLEXSEAT_DESK_THROTTLE_WINDOW_SECONDS, default 900; FLEXSEAT_DESK_THROTTLE_SECONDS, default
   * 900), in the core's units (ms).
   */
  deskThrottle: DeskThrottlePolicy
  /** pino level, default `info`. */
  logLevel: string
  tls: TlsMaterial | undefined
  /**
   * The directory sync this instance runs while it leads (FLEXSEAT_DIRECTORY_SYNC_FILE, a YAML
   * file: see docs/CONFIGURATION.md); undefined: none. Its templates' home sites must be sites
   * of the sites folder.
   */
  directorySync: DirectorySyncConfig | undefined
  /**
   * The workers' call lists: calls kept per worker (FLEXSEAT_CALL_LIST_SIZE, default 50, 1 to
   * 1000) and how long (FLEXSEAT_CALL_LIST_RETENTION_SECONDS, default 7776000 = 90 days, 2 s to
   * 10 years).
   */
  callList: CallListPolicy
  /**
   * How long web portal sessions last: a worker's (FLEXSEAT_PORTAL_SESSION_SECONDS, default 28800
   * = 8 h) and an administrator's (FLEXSEAT_PORTAL_ADMIN_SESSION_SECONDS, default 3600), each 60 s
   * to 7 days.
   */
  sessions: SessionPolicy
  /**
   * The seat history: records kept per worker (FLEXSEAT_SEAT_HISTORY_SIZE, default 500, 1 to
   * 100000) and how long after their last change (FLEXSEAT_SEAT_HISTORY_RETENTION_SECONDS,
   * default 7776000 = 90 days, 2 s to 10 years).
   */
  seatHistory: SeatHistoryPolicy
  /**
   * How long a sign-out policy's hour and minute last. Real time, unless FLEXSEAT_TEST_POLICY_SECONDS=1
   * makes both count as seconds (a test-only setting, so that tests see a limit of "3 hours" end
   * in 3 s; refused when NODE_ENV=production, and logged as a warning at start).
   */
  policyUnits: PolicyUnits
}

/** The command line or environment is not usable; the message says which option and why. */
export class RegistryConfigError extends Error {
  override readonly name = 'RegistryConfigError'
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/**
 * Reads `flexseat-registry --site <id> [--sites-dir <dir>]` and the `FLEXSEAT_*` environment
 * (see docs/CONFIGURATION.md and the contract in the registry's README). Throws
 * RegistryConfigError or the site loader's ConfigError.
 */
export async function loadRegistryConfig(argv: readonly string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): Promise<RegistryConfig> {
  let values: { site?: string; 'sites-dir'?: string }
  try {
    ;({ values } = parseArgs({
      args: [...argv],
      options: { site: { type: 'string' }, 'sites-dir': { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }))
  } catch (error) {
    throw new RegistryConfigError(`usage: flexseat-registry --site <id> [--sites-dir <dir>] (${(error as Error).message})`)
  }
  if (values.site === undefined || values.site === '') throw new RegistryConfigError('usage: flexseat-registry --site <id> [--sites-dir <dir>]: --site is required')
  const sitesDir = resolve(cwd, values['sites-dir'] ?? 'sites')
  const sites = await loadSites(sitesDir)
  const site = sites.find((candidate) => candidate.id === values.site)
  if (site === undefined) throw new RegistryConfigError(`--site: no site "${values.site}" in ${sitesDir} (${sites.map((s) => s.id).join(', ')})`)

  const text = (name: string): string | undefined => {
    const value = env[name]?.trim()
    return value === undefined || value === '' ? undefined : value
  }

  // Nearest first (etcd-client.ts): by default the site's own member, then the others'.
  const endpoints =
    text('FLEXSEAT_ETCD_ENDPOINTS')?.split(',').map((e) => e.trim()).filter((e) => e !== '') ?? [...new Set([site.etcd.clientUrl, ...sites.map((s) => s.etcd.clientUrl)])]
  for (const endpoint of endpoints) {
    if (!/^https?:\/\/[^\s/]+$/.test(endpoint)) throw new RegistryConfigError(`FLEXSEAT_ETCD_ENDPOINTS: "${endpoint}" is not http(s)://host:port`)
  }
  if (endpoints.length === 0) throw new RegistryConfigError('FLEXSEAT_ETCD_ENDPOINTS: no endpoint')

  const etcdPrefix = text('FLEXSEAT_ETCD_PREFIX') ?? 'flexseat/'
  const listen = text('FLEXSEAT_REGISTRY_LISTEN') ?? site.registry.listen
  if (parseHostPort(listen) === undefined) throw new RegistryConfigError(`FLEXSEAT_REGISTRY_LISTEN: "${listen}" is not host:port`)
  const advertiseAddress = text('FLEXSEAT_ADVERTISE_ADDRESS')
  if (advertiseAddress !== undefined && (parseHostPort(advertiseAddress)?.port ?? 0) === 0) {
    throw new RegistryConfigError(`FLEXSEAT_ADVERTISE_ADDRESS: "${advertiseAddress}" is not host:port with a port`)
  }

  const tokensFile = text('FLEXSEAT_TOKENS_FILE')
  const tokens = tokensFile === undefined ? [] : await loadTokensFile(resolve(cwd, tokensFile))

  const ttlText = text('FLEXSEAT_LEASE_TTL_SECONDS') ?? '3'
  const leaseTtlSeconds = Number(ttlText)
  // etcd's minimum lease TTL is 1.5 election timeouts, rounded up: 2 s at default timing. With 1
  // the keepalive (sent at a third of the TTL) races the expiry and the leader flaps.
  if (!Number.isInteger(leaseTtlSeconds) || leaseTtlSeconds < 2 || leaseTtlSeconds > 300) {
    throw new RegistryConfigError(`FLEXSEAT_LEASE_TTL_SECONDS: "${ttlText}" is not a whole number of seconds from 2 to 300`)
  }
  const whole = (name: string, fallback: number, min: number, max: number): number => {
    const raw = text(name) ?? String(fallback)
    const value = Number(raw)
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new RegistryConfigError(`${name}: "${raw}" is not a whole number from ${min} to ${max}`)
    }
    return value
  }
  const maxFailures = whole('FLEXSEAT_LOCKOUT_MAX_FAILURES', 5, 1, 1_000)
  const lockout: LockoutPolicy = {
    maxFailures,
    // More than one desk's count: one desk alone never locks a worker everywhere.
    clusterMaxFailures: whole('FLEXSEAT_LOCKOUT_CLUSTER_MAX_FAILURES', 3 * maxFailures, maxFailures + 1, 3_000),
    windowMs: whole('FLEXSEAT_LOCKOUT_WINDOW_SECONDS', 900, 1, 30 * 86_400) * 1_000,
    lockMs: whole('FLEXSEAT_LOCKOUT_SECONDS', 900, 1, 30 * 86_400) * 1_000,
  }
  // A desk's count starts afresh when its lock ends: a lock shorter than the window would let one
  // desk guess the per-desk count again and again within one window, past the cluster-wide bound.
  if (lockout.lockMs < lockout.windowMs) {
    throw new RegistryConfigError(`FLEXSEAT_LOCKOUT_SECONDS: ${lockout.lockMs / 1_000} is shorter than FLEXSEAT_LOCKOUT_WINDOW_SECONDS (${lockout.windowMs / 1_000}); a lock must last the window at least, or one desk could guess past the bound`)
  }
  // At most 12 h each: the desk's record lives a day after its last wrong PIN (desk-throttle.ts).
  const deskThrottle: DeskThrottlePolicy = {
    maxFailures: whole('FLEXSEAT_DESK_THROTTLE_MAX_FAILURES', 10, 1, 1_000),
    windowMs: whole('FLEXSEAT_DESK_THROTTLE_WINDOW_SECONDS', 900, 1, 43_200) * 1_000,
    pauseMs: whole('FLEXSEAT_DESK_THROTTLE_SECONDS', 900, 1, 43_200) * 1_000,
  }
  // At least etcd's minimum lease TTL (2 s at default timing); at most a minute, past which a
  // cut-off branch would keep ringing a moved worker's old phone for too long.
  const confirmationLeaseSeconds = whole('FLEXSEAT_CONFIRMATION_LEASE_SECONDS', 5, 2, 60)
  const moveLeaderText = text('FLEXSEAT_MOVE_ETCD_LEADER') ?? 'false'
  if (moveLeaderText !== 'true' && moveLeaderText !== 'false') throw new RegistryConfigError(`FLEXSEAT_MOVE_ETCD_LEADER: "${moveLeaderText}" is not true or false`)
  const etcdLeaderPlacement = { enabled: moveLeaderText === 'true', minIntervalMs: whole('FLEXSEAT_MOVE_ETCD_LEADER_INTERVAL_SECONDS', 30, 1, 3_600) * 1_000 }
  // At least what the largest single write needs (a login compares about 15 keys, plus one per
  // branch it waits for); the byte floor keeps room for a batch of a few records.
  const groupCommitText = text('FLEXSEAT_GROUP_COMMIT') ?? 'true'
  if (groupCommitText !== 'true' && groupCommitText !== 'false') throw new RegistryConfigError(`FLEXSEAT_GROUP_COMMIT: "${groupCommitText}" is not true or false`)
  const txnLimits: TxnLimits = {
    maxTxnOps: whole('FLEXSEAT_ETCD_MAX_TXN_OPS', 128, 32, 100_000),
    maxRequestBytes: whole('FLEXSEAT_ETCD_MAX_REQUEST_BYTES', 1_572_864, 65_536, 2_147_483_647),
  }
  const callList: CallListPolicy = {
    size: whole('FLEXSEAT_CALL_LIST_SIZE', 50, 1, 1_000),
    // At least etcd's minimum lease TTL (the calls are put on a retention lease).
    retentionSeconds: whole('FLEXSEAT_CALL_LIST_RETENTION_SECONDS', 90 * 86_400, 2, 3_650 * 86_400),
  }
  const sessions: SessionPolicy = {
    workerSeconds: whole('FLEXSEAT_PORTAL_SESSION_SECONDS', 28_800, 60, 7 * 86_400),
    adminSeconds: whole('FLEXSEAT_PORTAL_ADMIN_SESSION_SECONDS', 3_600, 60, 7 * 86_400),
  }
  const seatHistory: SeatHistoryPolicy = {
    size: whole('FLEXSEAT_SEAT_HISTORY_SIZE', 500, 1, 100_000),
    // At least etcd's minimum lease TTL (the records are put on a retention lease).
    retentionSeconds: whole('FLEXSEAT_SEAT_HISTORY_RETENTION_SECONDS', 90 * 86_400, 2, 3_650 * 86_400),
  }
  const policySeconds = text('FLEXSEAT_TEST_POLICY_SECONDS')
  if (policySeconds !== undefined && policySeconds !== '0' && policySeconds !== '1') throw new RegistryConfigError(`FLEXSEAT_TEST_POLICY_SECONDS: "${policySeconds}" is not 0 or 1`)
  if (policySeconds === '1' && env['NODE_ENV'] === 'production') {
    throw new RegistryConfigError('FLEXSEAT_TEST_POLICY_SECONDS=1 (policy hours and minutes counted as seconds) is for tests only and refused with NODE_ENV=production')
  }
  const policyUnits = policySeconds === '1' ? SECOND_UNITS : REAL_UNITS
  const logLevel = text('FLEXSEAT_LOG_LEVEL') ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) throw new RegistryConfigError(`FLEXSEAT_LOG_LEVEL: "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`)

  return {
    site,
    sites,
    etcdEndpoints: endpoints,
    etcdPrefix,
    listen,
    advertiseAddress,
    tokens,
    tokensFile,
    clusterToken: text('FLEXSEAT_CLUSTER_TOKEN'),
    leaseTtlSeconds,
    etcdLeaderPlacement,
    confirmationLeaseSeconds,
    lockout,
    txnLimits,
    groupCommit: groupCommitText === 'true',
    callList,
    sessions,
    seatHistory,
    policyUnits,
    deskThrottle,
    logLevel,
    tls: await loadTls(env, cwd),
    directorySync: await loadDirectorySync(text('FLEXSEAT_DIRECTORY_SYNC_FILE'), sites, cwd),
  }
}

async function loadDirectorySync(file: string | undefined, sites: readonly SiteConfig[], cwd: string): Promise<DirectorySyncConfig | undefined> {
  if (file === undefined) return undefined
  // Its errors name the file and the key (never the bind password).
  return loadDirectorySyncConfig(resolve(cwd, file), { siteIds: sites.map((site) => site.id) })
}

async function loadTls(env: NodeJS.ProcessEnv, cwd: string): Promise<TlsMaterial | undefined> {
  const certFile = env['FLEXSEAT_TLS_CERT']
  const keyFile = env['FLEXSEAT_TLS_KEY']
  const caFile = env['FLEXSEAT_TLS_CA']
  const clientAuth = env['FLEXSEAT_TLS_CLIENT_AUTH']
  const clientSite = env['FLEXSEAT_TLS_CLIENT_SITE']
  if (clientAuth !== undefined && clientAuth !== '' && clientAuth !== 'require') {
    throw new RegistryConfigError(`FLEXSEAT_TLS_CLIENT_AUTH: "${clientAuth}" is not "require"`)
  }
  if (clientSite !== undefined && clientSite !== '' && clientSite !== 'require') {
    throw new RegistryConfigError(`FLEXSEAT_TLS_CLIENT_SITE: "${clientSite}" is not "require"`)
  }
  if (clientSite === 'require' && clientAuth !== 'require') throw new RegistryConfigError('FLEXSEAT_TLS_CLIENT_SITE=require needs FLEXSEAT_TLS_CLIENT_AUTH=require (client certificates)')
  if (certFile === undefined && keyFile === undefined) {
    if (caFile !== undefined || clientAuth === 'require') throw new RegistryConfigError('FLEXSEAT_TLS_CA/FLEXSEAT_TLS_CLIENT_AUTH need FLEXSEAT_TLS_CERT and FLEXSEAT_TLS_KEY')
    return undefined
  }
  if (certFile === undefined || keyFile === undefined) throw new RegistryConfigError('FLEXSEAT_TLS_CERT and FLEXSEAT_TLS_KEY go together')
  if (clientAuth === 'require' && caFile === undefined) throw new RegistryConfigError('FLEXSEAT_TLS_CLIENT_AUTH=require needs FLEXSEAT_TLS_CA')
  const read = async (name: string, file: string): Promise<Buffer> => {
    try {
      return await readFile(resolve(cwd, file))
    } catch (error) {
      throw new RegistryConfigError(`${name}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error })
    }
  }
  return {
    cert: await read('FLEXSEAT_TLS_CERT', certFile),
    key: await read('FLEXSEAT_TLS_KEY', keyFile),
    ...(caFile === undefined ? {} : { ca: await read('FLEXSEAT_TLS_CA', caFile) }),
    requireClientCert: clientAuth === 'require',
    requireSiteCertificate: clientSite === 'require',
  }
}
