/**
 * A real registry cluster for tests and benchmarks: a 3-member etcd cluster (EtcdCluster) and N
 * registry PROCESSES (`node packages/registry/dist/main.js`, each tethered to the test process)
 * on 127.0.0.1 port 0, with a generated tokens file and a fresh etcd key prefix.
 *
 * ```ts
 * const cluster = await RegistryCluster.start({ instances: 3 })
 * t.teardown(() => cluster.stop())
 * const leader = await cluster.leader()
 * const { seat } = cluster.clients(leader)
 * await unary(seat.login.bind(seat), request, { metadata: cluster.metadata('admin') })
 * await cluster.kill(leader)
 * ```
 *
 * Build first (`npx tsc -b packages/registry`): the processes run the compiled `dist/main.js`.
 */
import { randomBytes, randomUUID, createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { type ChannelCredentials, credentials, type Metadata } from '@grpc/grpc-js'
import {
  bearer,
  ClusterServiceClient,
  DirectoryServiceClient,
  type GetClusterStatusResponse,
  SeatPolicyServiceClient,
  SeatServiceClient,
  SessionServiceClient,
  unary,
  User,
} from '@flexseat/proto'
import { EtcdCluster, type EtcdTxnLimits, TetheredProcess } from '@flexseat/sim'

/** Root of the repository (this file is test/helpers/registry-cluster.ts). */
export const REPO_ROOT = join(__dirname, '..', '..')
/** The registry's compiled entry point. */
export const REGISTRY_MAIN = join(REPO_ROOT, 'packages', 'registry', 'dist', 'main.js')

/** Roles with a token in the generated tokens file. */
export type TokenRole = 'admin' | 'sip-node' | 'provisioning' | 'viewer' | 'registry' | 'portal'

/** Options of {@link RegistryCluster.start}. */
export interface RegistryClusterOptions {
  /** Registry processes to start (default 3). */
  instances?: number
  /**
   * Site of each instance, by index (default amsterdam, berlin, chicago from the repository's
   * sites/, in that order, repeated when there are more instances than sites).
   */
  sites?: readonly string[]
  /** Folder with the site files (default the repository's sites/). */
  sitesDir?: string
  /** Sites besides the instances' (and amsterdam, berlin, chicago) with a sip-node and a provisioning token of their own. */
  nodeSites?: readonly string[]
  /** FLEXSEAT_LEASE_TTL_SECONDS of every instance (default 3, the registry's default). */
  leaseTtlSeconds?: number
  /** FLEXSEAT_LOG_LEVEL (default `debug`, so that tests can wait on log lines). */
  logLevel?: string
  /** Members of the etcd cluster (default 3). */
  etcdMembers?: number
  /**
   * The members' `--max-txn-ops` and `--max-request-bytes` (default etcd's: 128, 1.5 MiB); every
   * instance is given the same (FLEXSEAT_ETCD_MAX_TXN_OPS, FLEXSEAT_ETCD_MAX_REQUEST_BYTES).
   */
  etcdTxnLimits?: EtcdTxnLimits
  /** Extra environment of every instance (e.g. TLS). Other FLEXSEAT_* variables are not inherited. */
  env?: Record<string, string>
  /**
   * Environment of one instance on top of `env`, by index, given the etcd cluster (e.g. its own
   * FLEXSEAT_ETCD_ENDPOINTS, nearest first); called at every start of the instance.
   */
  instanceEnv?: (index: number, etcd: EtcdCluster) => Record<string, string> | Promise<Record<string, string>>
  /** Receives every log line of every instance (stdout and stderr). */
  onLog?: (instance: number, line: string) => void
  /** How long to wait for each instance to listen and for a leader, in ms (default 20 000). */
  startTimeoutMs?: number
  /** Credentials of the harness' clients (default insecure; pass TLS credentials when `env` turns TLS on). */
  credentials?: ChannelCredentials
  /**
   * FLEXSEAT_REGISTRY_LISTEN of each instance, by index (default `127.0.0.1:0`). A fixed port
   * keeps the instance's address across {@link RegistryCluster.restart}, for clients that were
   * configured with it (a branch's SIP node).
   */
  listen?: readonly (string | undefined)[]
}

/** Generated clients of one instance. Closed by {@link RegistryCluster.stop} (or a restart). */
export interface RegistryClients {
  address: string
  seat: SeatServiceClient
  directory: DirectoryServiceClient
  cluster: ClusterServiceClient
  session: SessionServiceClient
  policy: SeatPolicyServiceClient
}

/** One registry process of the cluster. */
export interface RegistryInstance {
  readonly index: number
  readonly siteId: string
  /** The running (or paused) process; undefined after kill/stop until restart. */
  process: TetheredProcess | undefined
  /** Bound address host:port, from its `registry listening` log line (changes on restart). */
  address: string
  /** From its `registry listening` log line (a new one on every start). */
  instanceId: string
  /** Log lines of every run, oldest first (capped at the last 5 000). */
  readonly logs: string[]
}

const LOG_CAP = 5_000

/**
 * A 3-member etcd cluster plus N registry processes (see the file comment). Every process is
 * tethered (dies with the test process) and stopped by {@link stop}; etcd's data dir is removed.
 */
export class RegistryCluster {
  readonly etcd: EtcdCluster
  /** The fresh etcd key prefix (FLEXSEAT_ETCD_PREFIX) of this cluster. */
  readonly prefix: string
  /**
   * The plain tokens, by role; the tokens file holds only their SHA-256. `sip-node` and
   * `provisioning` are the tokens of the first instance's site (their tokens act for one site:
   * {@link siteTokens}, {@link provisioningTokens}).
   */
  readonly tokens: Readonly<Record<TokenRole, string>>
  /** A sip-node token per site (the instances' sites, amsterdam, berlin, chicago and `nodeSites`), by site id. */
  readonly siteTokens: Readonly<Record<string, string>>
  /** A provisioning token per site (the same sites as {@link siteTokens}), by site id. */
  readonly provisioningTokens: Readonly<Record<string, string>>
  /** Names of the callers in the tokens file, by role. */
  readonly callerNames: Readonly<Record<TokenRole, string>>
  readonly tokensFile: string
  readonly instances: readonly RegistryInstance[]
  readonly #dir: string
  readonly #options: Required<Omit<RegistryClusterOptions, 'onLog' | 'sites' | 'instances' | 'etcdMembers' | 'etcdTxnLimits' | 'listen' | 'nodeSites' | 'instanceEnv'>> & Pick<RegistryClusterOptions, 'onLog' | 'listen' | 'instanceEnv'>
  readonly #clients = new Map<number, RegistryClients>()
  #stopped = false

  private constructor(init: {
    etcd: EtcdCluster
    dir: string
    tokens: Record<TokenRole, string>
    siteTokens: Record<string, string>
    provisioningTokens: Record<string, string>
    tokensFile: string
    sites: string[]
    options: RegistryClusterOptions
  }) {
    this.etcd = init.etcd
    this.#dir = init.dir
    this.prefix = `test-${randomUUID()}/`
    this.tokens = init.tokens
    this.siteTokens = init.siteTokens
    this.provisioningTokens = init.provisioningTokens
    this.callerNames = { admin: 'test-admin', 'sip-node': `test-sip-node-${init.sites[0]}`, provisioning: `test-provisioning-${init.sites[0]}`, viewer: 'test-viewer', registry: 'test-registry', portal: 'test-portal' }
    this.tokensFile = init.tokensFile
    this.instances = init.sites.map((siteId, index) => ({ index, siteId, process: undefined, address: '', instanceId: '', logs: [] }))
    this.#options = {
      sitesDir: init.options.sitesDir ?? join(REPO_ROOT, 'sites'),
      leaseTtlSeconds: init.options.leaseTtlSeconds ?? 3,
      logLevel: init.options.logLevel ?? 'debug',
      env: init.options.env ?? {},
      startTimeoutMs: init.options.startTimeoutMs ?? 20_000,
      credentials: init.options.credentials ?? credentials.createInsecure(),
      onLog: init.options.onLog,
      listen: init.options.listen,
      instanceEnv: init.options.instanceEnv,
    }
  }

  /**
   * Starts etcd and every instance, and resolves once each instance listens and a leader is known
   * to all of them. On failure everything started is stopped again.
   */
  static async start(options: RegistryClusterOptions = {}): Promise<RegistryCluster> {
    const count = options.instances ?? 3
    const defaults = ['amsterdam', 'berlin', 'chicago']
    const sites = Array.from({ length: count }, (_, i) => options.sites?.[i] ?? defaults[i % defaults.length]!)
    const dir = await mkdtemp(join(tmpdir(), 'flexseat-registry-cluster-'))
    const tokenSites = [...new Set([...sites, ...defaults, ...(options.nodeSites ?? [])])]
    const siteTokens = Object.fromEntries(tokenSites.map((site) => [site, randomBytes(24).toString('hex')]))
    const provisioningTokens = Object.fromEntries(tokenSites.map((site) => [site, randomBytes(24).toString('hex')]))
    const tokens: Record<TokenRole, string> = {
      admin: randomBytes(24).toString('hex'),
      'sip-node': siteTokens[sites[0]!]!,
      provisioning: provisioningTokens[sites[0]!]!,
      viewer: randomBytes(24).toString('hex'),
      registry: randomBytes(24).toString('hex'),
      portal: randomBytes(24).toString('hex'),
    }
    const tokensFile = join(dir, 'tokens.yaml')
    const sha = (token: string): string => createHash('sha256').update(token).digest('hex')
    await writeFile(
      tokensFile,
      [
        '# Generated by test/helpers/registry-cluster.ts',
        'tokens:',
        ...(Object.entries(tokens) as [TokenRole, string][])
          .filter(([role]) => role !== 'sip-node' && role !== 'provisioning')
          .flatMap(([role, token]) => [`  - name: test-${role}`, `    role: ${role}`, `    sha256: ${sha(token)}`]),
        ...Object.entries(siteTokens).flatMap(([site, token]) => [`  - name: test-sip-node-${site}`, '    role: sip-node', `    site: ${site}`, `    sha256: ${sha(token)}`]),
        ...Object.entries(provisioningTokens).flatMap(([site, token]) => [`  - name: test-provisioning-${site}`, '    role: provisioning', `    site: ${site}`, `    sha256: ${sha(token)}`]),
        '',
      ].join('\n'),
    )
    let etcd: EtcdCluster | undefined
    let cluster: RegistryCluster | undefined
    try {
      etcd = await EtcdCluster.start({ members: options.etcdMembers ?? 3, dataDir: join(dir, 'etcd'), ...(options.etcdTxnLimits ? { txnLimits: options.etcdTxnLimits } : {}) })
      cluster = new RegistryCluster({ etcd, dir, tokens, siteTokens, provisioningTokens, tokensFile, sites, options })
      await Promise.all(cluster.instances.map((instance) => cluster!.#spawn(instance.index)))
      await cluster.waitForLeader()
      // Each instance creates its own site in the directory once it listens (registry-process.ts):
      // tests that place devices there need it, whatever the machine's load.
      await cluster.waitForSites()
      return cluster
    } catch (error) {
      if (cluster !== undefined) await cluster.stop()
      else {
        await etcd?.stop()
        await rm(dir, { recursive: true, force: true })
      }
      throw error
    }
  }

  /** Waits until the site of every instance is in the directory (each instance creates its own at start). */
  async waitForSites(timeoutMs = this.#options.startTimeoutMs): Promise<void> {
    const { directory } = this.clients(this.instances[0]!.index)
    for (const siteId of new Set(this.instances.map((instance) => instance.siteId))) {
      await eventually(`site ${siteId} in the directory`, () => unary(directory.getSite.bind(directory), { siteId }, { metadata: this.metadata('viewer'), timeoutMs: 2_000 }), timeoutMs, 100)
    }
  }

  /**
   * Request metadata carrying the token of `role` (`authorization: Bearer ...`); for `sip-node`
   * and `provisioning`, the token of `site` (default the first instance's site).
   */
  metadata(role: TokenRole = 'admin', site?: string): Metadata {
    if ((role === 'sip-node' || role === 'provisioning') && site !== undefined) return bearer(this.siteToken(site, role))
    return bearer(this.tokens[role])
  }

  /** The sip-node (or provisioning) token that acts for `site`. */
  siteToken(site: string, role: 'sip-node' | 'provisioning' = 'sip-node'): string {
    const token = (role === 'sip-node' ? this.siteTokens : this.provisioningTokens)[site]
    if (token === undefined) throw new RangeError(`no ${role} token for site ${site}`)
    return token
  }

  /** The clients of instance `index` (cached; new ones after the instance restarted). */
  clients(index: number): RegistryClients {
    const instance = this.#instance(index)
    const cached = this.#clients.get(index)
    if (cached !== undefined && cached.address === instance.address) return cached
    if (cached !== undefined) closeClients(cached)
    const channel = this.#options.credentials
    const clients: RegistryClients = {
      address: instance.address,
      seat: new SeatServiceClient(instance.address, channel),
      directory: new DirectoryServiceClient(instance.address, channel),
      cluster: new ClusterServiceClient(instance.address, channel),
      session: new SessionServiceClient(instance.address, channel),
      policy: new SeatPolicyServiceClient(instance.address, channel),
    }
    this.#clients.set(index, clients)
    return clients
  }

  /** GetClusterStatus as answered by instance `index` (admin token, 2 s deadline). */
  async status(index: number): Promise<GetClusterStatusResponse> {
    const { cluster } = this.clients(index)
    return unary(cluster.getClusterStatus.bind(cluster), {}, { metadata: this.metadata('viewer'), timeoutMs: 2_000 })
  }

  /** Indexes of instances whose process runs and is not paused. */
  get live(): number[] {
    return this.instances.filter((i) => i.process?.running === true && !this.#paused.has(i.index)).map((i) => i.index)
  }

  readonly #paused = new Set<number>()

  /**
   * Waits until every live instance (or those in `on`) reports the same leader, which is one of
   * them and not `not`; resolves with its index. Polls GetClusterStatus; rejects after
   * `timeoutMs` (default the start timeout).
   */
  async waitForLeader(options: { not?: number; on?: readonly number[]; timeoutMs?: number } = {}): Promise<number> {
    const deadline = Date.now() + (options.timeoutMs ?? this.#options.startTimeoutMs)
    let last = 'no answer yet'
    while (Date.now() < deadline) {
      const asked = options.on ?? this.live
      const answers = await Promise.all(asked.map((i) => this.status(i).catch((error: unknown) => error as Error)))
      const ids = answers.map((a) => (a instanceof Error ? undefined : a.leader?.instanceId))
      const first = ids[0]
      const index = this.instances.findIndex((i) => i.instanceId === first && first !== '')
      if (first !== undefined && ids.every((id) => id === first) && index >= 0 && index !== options.not && this.live.includes(index)) return index
      last = JSON.stringify(answers.map((a) => (a instanceof Error ? a.message : (a.leader?.instanceId ?? 'none'))))
      await pause(100)
    }
    throw new Error(`no agreed leader within the deadline (last answers: ${last})`)
  }

  /** The index of the current leader as the live instances agree on it (see {@link waitForLeader}). */
  leader(timeoutMs?: number): Promise<number> {
    return this.waitForLeader(timeoutMs === undefined ? {} : { timeoutMs })
  }

  /** Kills instance `index` with SIGKILL; resolves once it has ended. */
  async kill(index: number): Promise<void> {
    const instance = this.#instance(index)
    this.#paused.delete(index)
    await keepingAlive(async () => instance.process?.kill())
    instance.process = undefined
  }

  /** Stops instance `index` with SIGTERM (graceful: it resigns and drains); resolves with its exit. */
  async terminate(index: number, graceMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
    const instance = this.#instance(index)
    this.#paused.delete(index)
    const exit = await keepingAlive(async () => instance.process?.stop(graceMs))
    instance.process = undefined
    return exit
  }

  /** Pauses instance `index` (SIGSTOP): its lease keep-alives stop, its sockets stay open. */
  pause(index: number): void {
    this.#instance(index).process?.signal('SIGSTOP')
    this.#paused.add(index)
  }

  /** Resumes a paused instance (SIGCONT). */
  resume(index: number): void {
    this.#instance(index).process?.signal('SIGCONT')
    this.#paused.delete(index)
  }

  /** Kills instance `index` if it runs, starts it again (new port, new instance id) and waits until it listens. */
  async restart(index: number): Promise<void> {
    await this.kill(index)
    await this.#spawn(index)
  }

  /**
   * Waits for a log line of instance `index` (from `since`, an index into its logs) that matches
   * `test`; resolves with the parsed line. Rejects after `timeoutMs` (default 10 000).
   */
  async waitForLog(index: number, test: (line: Record<string, unknown>) => boolean, options: { since?: number; timeoutMs?: number } = {}): Promise<Record<string, unknown>> {
    const instance = this.#instance(index)
    const deadline = Date.now() + (options.timeoutMs ?? 10_000)
    let seen = options.since ?? 0
    while (Date.now() < deadline) {
      for (; seen < instance.logs.length; seen += 1) {
        const parsed = parseJson(instance.logs[seen]!)
        if (parsed !== undefined && test(parsed)) return parsed
      }
      await pause(50)
    }
    throw new Error(`instance ${index}: no matching log line within the deadline`)
  }

  /** Stops every instance (SIGTERM, then SIGKILL), closes clients, stops etcd, removes the temp dir. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    await keepingAlive(() => this.#stop())
  }

  async #stop(): Promise<void> {
    for (const clients of this.#clients.values()) closeClients(clients)
    this.#clients.clear()
    const errors: unknown[] = []
    const step = async (what: string, run: () => Promise<unknown>): Promise<void> => {
      await run().catch((error: unknown) => errors.push(new Error(`${what}: ${(error as Error)?.message ?? String(error)}`, { cause: error })))
    }
    await Promise.all(this.instances.map((instance) => step(`stopping instance ${instance.index}`, async () => instance.process?.stop(3_000))))
    await step('stopping etcd', () => this.etcd.stop())
    await step('removing the temp dir', () => rm(this.#dir, { recursive: true, force: true, maxRetries: 3 }))
    if (errors.length > 0) throw new AggregateError(errors, `RegistryCluster.stop: ${errors.map((e) => (e as Error).message).join('; ')}`)
  }

  #instance(index: number): RegistryInstance {
    const instance = this.instances[index]
    if (instance === undefined) throw new RangeError(`no instance ${index}`)
    return instance
  }

  async #spawn(index: number): Promise<void> {
    const instance = this.#instance(index)
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FLEXSEAT_') && !name.startsWith('OTEL_')))
    const env: NodeJS.ProcessEnv = {
      ...inherited,
      FLEXSEAT_ETCD_ENDPOINTS: this.etcd.endpoints.join(','),
      ...this.etcd.registryEnv,
      FLEXSEAT_ETCD_PREFIX: this.prefix,
      FLEXSEAT_REGISTRY_LISTEN: this.#options.listen?.[index] ?? '127.0.0.1:0',
      FLEXSEAT_TOKENS_FILE: this.tokensFile,
      FLEXSEAT_CLUSTER_TOKEN: this.tokens.registry,
      FLEXSEAT_LEASE_TTL_SECONDS: String(this.#options.leaseTtlSeconds),
      FLEXSEAT_LOG_LEVEL: this.#options.logLevel,
      ...this.#options.env,
      ...(await this.#options.instanceEnv?.(index, this.etcd)),
    }
    const since = instance.logs.length
    const child = await TetheredProcess.spawn(process.execPath, [REGISTRY_MAIN, '--site', instance.siteId, '--sites-dir', this.#options.sitesDir], { cwd: REPO_ROOT, env })
    instance.process = child
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        instance.logs.push(line)
        if (instance.logs.length > LOG_CAP) instance.logs.splice(0, instance.logs.length - LOG_CAP)
        this.#options.onLog?.(index, line)
      })
    }
    const listening = this.waitForLog(index, (line) => line['msg'] === 'registry listening', { since, timeoutMs: this.#options.startTimeoutMs })
    const exited = child.exited.then((exit) => {
      throw new Error(`instance ${index} (${instance.siteId}) exited while starting (${JSON.stringify(exit)}): ${instance.logs.slice(since).slice(-20).join('\n')}`)
    })
    const line = await Promise.race([listening, exited])
    exited.catch(() => undefined)
    instance.address = String(line['address'])
    instance.instanceId = String(line['instanceId'])
  }
}

function closeClients(clients: RegistryClients): void {
  clients.seat.close()
  clients.directory.close()
  clients.cluster.close()
  clients.session.close()
  clients.policy.close()
}

function parseJson(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined
  try {
    return JSON.parse(line) as Record<string, unknown>
  } catch {
    return undefined
  }
}

/**
 * Polling interval only: every wait above has a deadline and checks a condition. The timer is
 * ref'd on purpose: tethered children are unref'd, so it is what keeps the test process alive.
 */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Runs `work` with the event loop held open: waiting on an (unref'd) tethered child alone would
 * let Node exit in the middle of a teardown.
 */
async function keepingAlive<T>(work: () => Promise<T>): Promise<T> {
  const keep = setInterval(() => undefined, 1_000)
  try {
    return await work()
  } finally {
    clearInterval(keep)
  }
}

/**
 * The gRPC error a call failed with; throws (so the test fails) when the call succeeded or
 * failed with something other than a gRPC status.
 */
export async function callError(call: Promise<unknown>): Promise<import('@grpc/grpc-js').ServiceError> {
  let result: unknown
  try {
    result = await call
  } catch (error) {
    if (typeof (error as { code?: unknown }).code === 'number') return error as import('@grpc/grpc-js').ServiceError
    throw error
  }
  throw new Error(`expected the call to fail, it answered ${JSON.stringify(result)}`)
}

/**
 * Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs`
 * (default 10 000) with `what` (or what it returns, evaluated then) in the message. Errors thrown by `check` count as "not yet".
 */
export async function eventually<T>(what: string | (() => string), check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value
    } catch (error) {
      lastError = error
    }
    await pause(everyMs)
  }
  throw new Error(`${typeof what === 'function' ? what() : what}: not within ${timeoutMs} ms${lastError === undefined ? '' : ` (last error: ${(lastError as Error).message})`}`)
}

/**
 * A worker for tests: id `u<extension>`, home amsterdam, roaming allowed, no seat limit;
 * `overrides` change any field.
 */
export function worker(extension: string, overrides: Partial<User> = {}): User {
  return User.fromPartial({ id: `u${extension}`, extension, displayName: `Worker ${extension}`, homeSiteId: 'amsterdam', roamingAllowed: true, ...overrides })
}
