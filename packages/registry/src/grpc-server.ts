import { type ChannelCredentials, credentials as channelCredentials, Metadata, type MethodDefinition, Server, ServerCredentials } from '@grpc/grpc-js'
import { loadFileDescriptorSetFromBuffer } from '@grpc/proto-loader'
import { ReflectionService } from '@grpc/reflection'
import { BranchServiceService, CallListServiceService, ClusterServiceService, DirectoryServiceService, DirectorySyncServiceService, ReportServiceService, readDescriptorSet, SeatPolicyServiceService, SeatServiceService, SessionServiceService } from '@flexseat/proto'
import { HealthImplementation, type ServingStatus } from 'grpc-health-check'
import type { Logger } from 'pino'
import { Authenticator, type TokenEntry } from './auth'
import type { Caller } from './caller'
import { branchService } from './branch-service'
import { callListService } from './call-list-service'
import { clusterService } from './cluster-service'
import { directoryService } from './directory-service'
import { seatPolicyService } from './seat-policy-service'
import { directorySyncService } from './directory-sync-service'
import { unavailable } from './errors'
import { LeaderForwarder } from './leader-forwarder'
import { decodingStrictly } from './request-decoding'
import { reportService } from './report-service'
import { seatService } from './seat-service'
import { sessionService } from './session-service'
import type { ServedCore } from './served-core'
import type { ServiceContext } from './service-handlers'

/** Fully qualified names of the registry's services, as health checking and reflection name them. */
export const REGISTRY_SERVICE_NAMES = ['flexseat.v1.SeatService', 'flexseat.v1.DirectoryService', 'flexseat.v1.ClusterService', 'flexseat.v1.BranchService', 'flexseat.v1.DirectorySyncService', 'flexseat.v1.CallListService', 'flexseat.v1.SessionService', 'flexseat.v1.ReportService', 'flexseat.v1.SeatPolicyService'] as const

/** PEM material of the server's TLS (and of the channels it forwards writes on). */
export interface TlsMaterial {
  cert: Buffer
  key: Buffer
  /** CA that signed the other instances' (and, with mTLS, the clients') certificates. */
  ca?: Buffer
  /** Require and verify client certificates (mTLS). Default false. */
  requireClientCert?: boolean
  /** With mTLS: a SIP node's certificate must name its site (`urn:flexseat:site:<id>`). Default false. */
  requireSiteCertificate?: boolean
}

/** Options of {@link RegistryServer.create}. */
export interface RegistryServerOptions {
  /** This instance's id (the core's `instance.id`), to recognise itself as the leader. */
  instanceId: string
  /** host:port to bind; port 0 picks a free port. */
  listen: string
  /** Tokens of the tokens file; empty: every call except health and reflection is refused. */
  tokens: readonly TokenEntry[]
  /** Presented to the leader when forwarding writes (role registry). */
  clusterToken?: string
  /** TLS; plaintext when absent. */
  tls?: TlsMaterial
  logger: Logger
  /** How often health status follows `core.healthy()`, in ms (default 1 000). */
  healthIntervalMs?: number
}

/**
 * Lifecycle of a {@link RegistryServer}: `starting` (bound; calls answer UNAVAILABLE until a core
 * is attached), `serving`, `stopping`, `stopped`.
 */
export type RegistryServerState = 'starting' | 'serving' | 'stopping' | 'stopped'

/**
 * The registry's gRPC server: SeatService, DirectoryService, ClusterService and BranchService on the core (with
 * bearer-token authentication and role checks, writes forwarded to the leader), standard health
 * checking (overall "" and each service SERVING while the core is healthy) and server reflection.
 *
 * It binds before the core exists, because the core advertises the bound address (port 0 binds a
 * free port): {@link create} binds, {@link attach} starts serving on the core.
 */
export class RegistryServer {
  #address = ''
  #port = 0
  #state: RegistryServerState = 'starting'
  #core: ServedCore | undefined
  readonly #server: Server
  readonly #health: HealthImplementation
  readonly #forwarder: LeaderForwarder
  readonly #closing = new AbortController()
  readonly #logger: Logger
  readonly #healthIntervalMs: number
  #timer: NodeJS.Timeout | undefined
  readonly #onLeadership = (): void => this.#updateHealth()
  #stopping: Promise<void> | undefined

  private constructor(options: RegistryServerOptions, server: Server) {
    this.#logger = options.logger
    this.#server = server
    this.#healthIntervalMs = options.healthIntervalMs ?? 1_000
    const core = (): ServedCore => this.#serving()
    const auth = new Authenticator(options.tokens)
    if (!auth.enabled) this.#logger.warn('no tokens file: every call except health checking and reflection is refused')
    if (options.clusterToken === undefined) this.#logger.warn('no cluster token: writes sent to this instance cannot be forwarded to the leader')
    this.#forwarder = new LeaderForwarder({
      core,
      instanceId: options.instanceId,
      clusterToken: options.clusterToken,
      credentials: clientCredentials(options.tls),
      logger: this.#logger,
    })
    const context: ServiceContext = { core, auth, forwarder: this.#forwarder, logger: this.#logger, closing: this.#closing.signal, requireSiteCertificate: options.tls?.requireSiteCertificate === true }
    // Requests are decoded strictly: not protobuf, or invalid UTF-8, is INVALID_ARGUMENT (request-decoding.ts).
    server.addService(decodingStrictly(SeatServiceService), seatService(context))
    server.addService(decodingStrictly(DirectoryServiceService), directoryService(context))
    server.addService(decodingStrictly(ClusterServiceService), clusterService(context))
    server.addService(decodingStrictly(BranchServiceService), branchService(context))
    server.addService(decodingStrictly(DirectorySyncServiceService), directorySyncService(context))
    server.addService(decodingStrictly(CallListServiceService), callListService(context))
    server.addService(decodingStrictly(SessionServiceService), sessionService(context))
    server.addService(decodingStrictly(ReportServiceService), reportService(context))
    server.addService(decodingStrictly(SeatPolicyServiceService), seatPolicyService(context))
    this.#health = new HealthImplementation(Object.fromEntries(['', ...REGISTRY_SERVICE_NAMES].map((name) => [name, 'NOT_SERVING' as ServingStatus])))
    this.#health.addToServer(server)
    new ReflectionService(loadFileDescriptorSetFromBuffer(readDescriptorSet())).addToServer(server)
  }

  /** Builds the server and binds it (state `starting`). */
  static async create(options: RegistryServerOptions): Promise<RegistryServer> {
    const server = new Server({ 'grpc.keepalive_permit_without_calls': 1 })
    // Services are added before the port is bound; they reach the core only once it is attached.
    const registry = new RegistryServer(options, server)
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(options.listen, serverCredentials(options.tls), (error, bound) => (error ? reject(error) : resolve(bound)))
    }).catch((error: unknown) => {
      server.forceShutdown()
      throw error
    })
    registry.#port = port
    registry.#address = `${options.listen.slice(0, options.listen.lastIndexOf(':'))}:${port}`
    return registry
  }

  /** The bound address: host:port with the real port. */
  get address(): string {
    return this.#address
  }

  /** The bound port. */
  get port(): number {
    return this.#port
  }

  /** Starts serving calls on `core` (state `serving`); health follows `core.healthy()`. */
  attach(core: ServedCore): void {
    if (this.#state !== 'starting') throw new Error(`cannot attach a core in state ${this.#state}`)
    this.#core = core
    this.#state = 'serving'
    core.on('leadership', this.#onLeadership)
    this.#timer = setInterval(() => this.#updateHealth(), this.#healthIntervalMs)
    this.#timer.unref()
    this.#updateHealth()
  }

  #serving(): ServedCore {
    if (this.#core === undefined || this.#state !== 'serving') throw unavailable(this.#state === 'starting' ? 'the instance is starting' : 'the instance is shutting down', 500)
    return this.#core
  }

  /**
   * Runs one of the instance's own writes (e.g. its site bootstrap) on the leader as `caller`:
   * `run` here when this instance leads, else `method` forwarded to the leader.
   */
  write<Req, Res>(method: MethodDefinition<Req, Res>, request: Req, caller: Caller, run: (core: ServedCore) => Promise<Res>): Promise<Res> {
    return this.#forwarder.execute(method, request, caller, { metadata: new Metadata() }, () => run(this.#serving()))
  }

  get state(): RegistryServerState {
    return this.#state
  }

  #updateHealth(): void {
    const status: ServingStatus = this.#state === 'serving' && this.#core?.healthy() === true ? 'SERVING' : 'NOT_SERVING'
    for (const name of ['', ...REGISTRY_SERVICE_NAMES]) this.#health.setStatus(name, status)
  }

  /**
   * Stops serving: health turns NOT_SERVING, seat streams end with UNAVAILABLE (clients resume
   * elsewhere from their last revision), new calls are refused, calls in progress may finish for
   * `graceMs` (default 5 000), then every call is cancelled. Idempotent.
   */
  stop(graceMs = 5_000): Promise<void> {
    this.#stopping ??= this.#stop(graceMs)
    return this.#stopping
  }

  async #stop(graceMs: number): Promise<void> {
    this.#state = 'stopping'
    this.#updateHealth()
    clearInterval(this.#timer)
    this.#core?.off('leadership', this.#onLeadership)
    this.#closing.abort()
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#logger.warn('calls still in progress after the grace period; cancelling them')
        this.#server.forceShutdown()
        resolve()
      }, graceMs)
      timer.unref()
      this.#server.tryShutdown(() => {
        clearTimeout(timer)
        resolve()
      })
    })
    this.#forwarder.stop()
    this.#state = 'stopped'
  }
}

function serverCredentials(tls: TlsMaterial | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure()
  return ServerCredentials.createSsl(tls.ca ?? null, [{ cert_chain: tls.cert, private_key: tls.key }], tls.requireClientCert ?? false)
}

function clientCredentials(tls: TlsMaterial | undefined): ChannelCredentials {
  if (tls === undefined) return channelCredentials.createInsecure()
  // With mTLS the instance presents its own certificate to the leader.
  return tls.requireClientCert === true ? channelCredentials.createSsl(tls.ca ?? null, tls.key, tls.cert) : channelCredentials.createSsl(tls.ca ?? null)
}
