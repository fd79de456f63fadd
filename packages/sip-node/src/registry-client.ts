import { type ChannelCredentials, type ChannelOptions, type ClientOptions, credentials, InterceptingCall, type Interceptor, type Metadata, status as GrpcStatus } from '@grpc/grpc-js'
import { context as otelContext, propagation, type TextMapSetter } from '@opentelemetry/api'
import {
  type AckRevocationsRequest,
  bearer,
  BranchServiceClient,
  CallListServiceClient,
  type ChangePinRequest,
  type Device,
  DirectoryServiceClient,
  type FunctionKeyProfile,
  ErrorCode,
  type GetDeviceCredentialsResponse,
  type ListCallsRequest,
  type ListCallsResponse,
  type LoginRequest,
  type LoginResponse,
  type LogoutRequest,
  type LogoutResponse,
  type RenewSeatRequest,
  type RenewSeatResponse,
  type PhoneBinding,
  type Seat,
  type ReleaseLeaseRequest,
  type RenewLeaseRequest,
  type RenewLeaseResponse,
  type ReportBindingsRequest,
  type ReportCallsRequest,
  type ReportCallActivityRequest,
  type ReportCallActivityResponse,
  type WatchDialogsResponse,
  type ReportCallsResponse,
  SeatServiceClient,
  serverStream,
  type Site,
  unary,
  type UnaryMethod,
  type User,
  type WatchSeatsResponse,
} from '@flexseat/proto'
import type { Logger } from 'pino'
import { RegistryCallError } from './errors'

/** Options of {@link RegistryClient}. */
export interface RegistryClientOptions {
  /** `host:port` of registry instances, tried in order (at least one). */
  addresses: string[]
  /**
   * Bearer token with the registry role the caller acts in (`sip-node`; `provisioning` for the
   * provisioning service, which shares this client); sent with every call, never logged.
   */
  token: string
  /** PEM CA of the registry's TLS certificate; plaintext when undefined. */
  ca?: Buffer | undefined
  /** With `ca`: this node's client certificate and key (PEM) for mutual TLS; it should name the site (`urn:flexseat:site:<id>`). */
  clientCertificate?: { cert: Buffer; key: Buffer } | undefined
  logger: Logger
  /** Deadline of each unary call attempt in milliseconds (default {@link DEFAULT_REGISTRY_DEADLINE_MS}). */
  deadlineMs?: number
}

/** Default deadline of a unary registry call, in milliseconds. */
export const DEFAULT_REGISTRY_DEADLINE_MS = 5_000
/** Page size of the List calls (the registry's maximum). */
const PAGE_SIZE = 1_000

const CHANNEL_OPTIONS: ChannelOptions = {
  // A registry instance that went away is retried quickly once it is back, and a call to it
  // fails fast meanwhile (the client then moves on to the next address).
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2_000,
  // Detects a silently dead peer under a long-lived WatchSeats stream.
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 0,
}

/**
 * Carries the active W3C trace context (`traceparent`, `tracestate`) in every call's metadata, so
 * that the registry's spans of a sign-in are children of the node's (the registry extracts it,
 * registry service-handlers.ts). Nothing is added while no span is active or nothing is traced.
 */
const traceContextInterceptor: Interceptor = (options, nextCall) =>
  new InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      propagation.inject(otelContext.active(), metadata, METADATA_SETTER)
      next(metadata, listener)
    },
  })

const METADATA_SETTER: TextMapSetter<Metadata> = { set: (metadata, key, value) => metadata.set(key, value) }

const CLIENT_OPTIONS: Partial<ClientOptions> = { ...CHANNEL_OPTIONS, interceptors: [traceContextInterceptor] }

/** The three service clients of one registry address, sharing one channel. */
interface Endpoint {
  address: string
  seat: SeatServiceClient
  directory: DirectoryServiceClient
  branch: BranchServiceClient
  calls: CallListServiceClient
}

/** Whether a call may be repeated once on another address after a transport failure. */
type Retry = 'once' | 'never'

/**
 * The SIP node's gRPC client of the seat registry: the bearer token on every call, a deadline
 * per attempt (default 5 s), domain errors ({@link RegistryCallError}) and address failover.
 *
 * Addresses are tried in order: a transport failure (gRPC UNAVAILABLE or DEADLINE_EXCEEDED without
 * an ErrorDetail) moves the client to the next address for the next call, and every call here may
 * be repeated once on that next address right away: reads and the lease calls are idempotent,
 * and Login/Logout/ChangePin carry the caller's request id, so the registry answers a repeat with
 * the first outcome. A deadline is not repeated (the caller's time is spent). No connection is
 * made before the first call; `close()` when done.
 */
export class RegistryClient {
  readonly #addresses: readonly string[]
  readonly #token: string
  readonly #credentials: ChannelCredentials
  readonly #logger: Logger
  readonly #deadlineMs: number
  readonly #endpoints = new Map<string, Endpoint>()
  #current = 0
  #closed = false

  constructor(options: RegistryClientOptions) {
    if (options.addresses.length === 0) throw new RangeError('RegistryClient: no registry address')
    this.#addresses = [...options.addresses]
    this.#token = options.token
    this.#credentials =
      options.ca === undefined
        ? credentials.createInsecure()
        : options.clientCertificate === undefined
          ? credentials.createSsl(options.ca)
          : credentials.createSsl(options.ca, options.clientCertificate.key, options.clientCertificate.cert)
    this.#logger = options.logger
    this.#deadlineMs = options.deadlineMs ?? DEFAULT_REGISTRY_DEADLINE_MS
  }

  /** The address the next call goes to. */
  get address(): string {
    return this.#addresses[this.#current] as string
  }

  /** SeatService.Login; `deadlineMs` overrides the default (a login may wait for a revocation). */
  login(req: LoginRequest, deadlineMs?: number): Promise<LoginResponse> {
    return this.#call('Login', (e) => e.seat.login.bind(e.seat), req, 'once', deadlineMs)
  }

  /** SeatService.Logout (idempotent: logging out nobody answers with `released` unset). */
  logout(req: LogoutRequest): Promise<LogoutResponse> {
    return this.#call('Logout', (e) => e.seat.logout.bind(e.seat), req, 'once')
  }

  /** SeatService.RenewSeat (`*51*ext*pin` at the desk the worker sits at). */
  renewSeat(req: RenewSeatRequest): Promise<RenewSeatResponse> {
    return this.#call('RenewSeat', (e) => e.seat.renewSeat.bind(e.seat), req, 'once')
  }

  /** DirectoryService.ChangePin. */
  async changePin(req: ChangePinRequest): Promise<void> {
    await this.#call('ChangePin', (e) => e.directory.changePin.bind(e.directory), req, 'once')
  }

  /** DirectoryService.GetDeviceCredentials: the device's HA1 for its realm. */
  getDeviceCredentials(deviceId: string): Promise<GetDeviceCredentialsResponse> {
    return this.#call('GetDeviceCredentials', (e) => e.directory.getDeviceCredentials.bind(e.directory), { deviceId }, 'once')
  }

  /** DirectoryService.GetUser by extension; undefined when no user has it. */
  async getUserByExtension(extension: string): Promise<User | undefined> {
    return this.#getUser({ key: { $case: 'extension', value: extension } })
  }

  /** DirectoryService.GetUser by id; undefined when there is no such user. */
  async getUser(userId: string): Promise<User | undefined> {
    return this.#getUser({ key: { $case: 'userId', value: userId } })
  }

  async #getUser(req: Parameters<DirectoryServiceClient['getUser']>[0]): Promise<User | undefined> {
    try {
      return (await this.#call('GetUser', (e) => e.directory.getUser.bind(e.directory), req, 'once')).user
    } catch (error) {
      if (error instanceof RegistryCallError && NOT_FOUND.has(error.code)) return undefined
      throw error
    }
  }

  /**
   * DirectoryService.GetDevice by id, or by MAC address with `{ mac }`; undefined when there is no
   * such device.
   */
  async getDevice(key: { deviceId: string } | { mac: string }): Promise<Device | undefined> {
    const request = 'mac' in key ? { deviceId: '', mac: key.mac } : { deviceId: key.deviceId }
    try {
      return (await this.#call('GetDevice', (e) => e.directory.getDevice.bind(e.directory), request, 'once')).device
    } catch (error) {
      if (error instanceof RegistryCallError && error.code === ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND) return undefined
      throw error
    }
  }

  /** SeatService.GetSeat of a device: the seat it hosts, undefined when nobody sits there. */
  async getSeatAt(deviceId: string): Promise<Seat | undefined> {
    return (await this.#call('GetSeat', (e) => e.seat.getSeat.bind(e.seat), { target: { $case: 'deviceId', value: deviceId } }, 'once')).seat
  }

  /** DirectoryService.GetFunctionKeyProfile; undefined when no profile has the name. */
  async getFunctionKeyProfile(name: string): Promise<FunctionKeyProfile | undefined> {
    try {
      return (await this.#call('GetFunctionKeyProfile', (e) => e.directory.getFunctionKeyProfile.bind(e.directory), { name }, 'once')).profile
    } catch (error) {
      if (error instanceof RegistryCallError && error.code === ErrorCode.ERROR_CODE_PROFILE_NOT_FOUND) return undefined
      throw error
    }
  }

  /** DirectoryService.ListDevices, every page. */
  async listDevices(): Promise<Device[]> {
    return this.#pages('ListDevices', async (pageToken) => {
      const res = await this.#call('ListDevices', (e) => e.directory.listDevices.bind(e.directory), { siteId: '', pageSize: PAGE_SIZE, pageToken }, 'once')
      return { items: res.devices, next: res.nextPageToken }
    })
  }

  /** DirectoryService.ListUsers, every page. */
  async listUsers(): Promise<User[]> {
    return this.#pages('ListUsers', async (pageToken) => {
      const res = await this.#call('ListUsers', (e) => e.directory.listUsers.bind(e.directory), { homeSiteId: '', pageSize: PAGE_SIZE, pageToken }, 'once')
      return { items: res.users, next: res.nextPageToken }
    })
  }

  /** DirectoryService.ListSites, every page. */
  async listSites(): Promise<Site[]> {
    return this.#pages('ListSites', async (pageToken) => {
      const res = await this.#call('ListSites', (e) => e.directory.listSites.bind(e.directory), { pageSize: PAGE_SIZE, pageToken }, 'once')
      return { items: res.sites, next: res.nextPageToken }
    })
  }

  /**
   * SeatService.WatchSeats of every site, resuming after `afterRevision` ("0": a snapshot first).
   * One stream, no deadline, no retry (SeatStream reopens it); ends when `signal` aborts (the
   * iteration then throws the signal's reason). A transport failure moves the client on to the
   * next address, so the reopened stream goes elsewhere.
   */
  async *watchSeats(afterRevision: string, signal: AbortSignal): AsyncIterable<WatchSeatsResponse> {
    if (this.#closed) throw new RegistryCallError('WatchSeats: registry client closed', { code: ErrorCode.ERROR_CODE_UNAVAILABLE, grpcCode: GrpcStatus.CANCELLED })
    const endpoint = this.#endpoint()
    try {
      yield* serverStream(endpoint.seat.watchSeats.bind(endpoint.seat), { afterRevision, siteId: '' }, { metadata: bearer(this.#token), signal })
    } catch (error) {
      if (signal.aborted) throw error
      throw this.#failed(error, 'WatchSeats', endpoint.address)
    }
  }

  /** CallListService.WatchDialogs (every worker's and desk's dialogs in progress): a snapshot, then changes. */
  async *watchDialogs(signal: AbortSignal): AsyncIterable<WatchDialogsResponse> {
    if (this.#closed) throw new RegistryCallError('WatchDialogs: registry client closed', { code: ErrorCode.ERROR_CODE_UNAVAILABLE, grpcCode: GrpcStatus.CANCELLED })
    const endpoint = this.#endpoint()
    try {
      yield* serverStream(endpoint.calls.watchDialogs.bind(endpoint.calls), {}, { metadata: bearer(this.#token), signal })
    } catch (error) {
      if (signal.aborted) throw error
      throw this.#failed(error, 'WatchDialogs', endpoint.address)
    }
  }

  /**
   * BranchService.RenewLease; `deadlineMs` (per attempt) overrides the default: the confirmation
   * lease keeps each renewal well inside the lease, so that an address that does not answer is
   * left for the next one in time.
   */
  renewLease(req: RenewLeaseRequest, deadlineMs?: number): Promise<RenewLeaseResponse> {
    return this.#call('RenewLease', (e) => e.branch.renewLease.bind(e.branch), req, 'once', deadlineMs)
  }

  /** Deadline of each unary call attempt unless a call says otherwise, in milliseconds. */
  get deadlineMs(): number {
    return this.#deadlineMs
  }

  /** BranchService.ReleaseLease (releasing a lease the node does not hold is not an error). */
  async releaseLease(req: ReleaseLeaseRequest): Promise<void> {
    await this.#call('ReleaseLease', (e) => e.branch.releaseLease.bind(e.branch), req, 'once')
  }

  /** BranchService.AckRevocations. */
  async ackRevocations(req: AckRevocationsRequest): Promise<void> {
    await this.#call('AckRevocations', (e) => e.branch.ackRevocations.bind(e.branch), req, 'once')
  }

  /**
   * BranchService.ReportBindings: sets the bindings given and deletes those of
   * `removedDeviceIds` (at most 1000 each). LEASE_HELD unless this node holds the site's lease.
   * Repeated once on the next address after a refused connection: each binding is set, not
   * added, so a repeat changes nothing twice.
   */
  async reportBindings(req: ReportBindingsRequest): Promise<void> {
    await this.#call('ReportBindings', (e) => e.branch.reportBindings.bind(e.branch), req, 'once')
  }

  /** BranchService.ListBindings of `siteId` (every site when empty), every page: the phones registered and not expired. */
  async listBindings(siteId: string): Promise<PhoneBinding[]> {
    return this.#pages('ListBindings', async (pageToken) => {
      const res = await this.#call('ListBindings', (e) => e.branch.listBindings.bind(e.branch), { siteId, pageSize: PAGE_SIZE, pageToken }, 'once')
      return { items: res.bindings, next: res.nextPageToken }
    })
  }

  /**
   * CallListService.ReportCalls: stores the calls the node recorded (at most 1000). Repeated once
   * on the next address after a refused connection: each record carries its own id and is stored
   * once.
   */
  async reportCalls(req: ReportCallsRequest): Promise<ReportCallsResponse> {
    return this.#call('ReportCalls', (e) => e.calls.reportCalls.bind(e.calls), req, 'once')
  }

  /**
   * CallListService.ReportCallActivity: the workers' calls as they start, are answered and end
   * (activity-reporter.ts). Repeated once on the next address: a repeated event changes nothing.
   */
  async reportCallActivity(req: ReportCallActivityRequest): Promise<ReportCallActivityResponse> {
    return this.#call('ReportCallActivity', (e) => e.calls.reportCallActivity.bind(e.calls), req, 'once')
  }

  /**
   * CallListService.ListCalls: a worker's calls, newest first (a site-bound caller names the desk
   * the worker sits at in `deviceId`).
   */
  listCalls(req: ListCallsRequest): Promise<ListCallsResponse> {
    return this.#call('ListCalls', (e) => e.calls.listCalls.bind(e.calls), req, 'once')
  }

  /** Closes every channel; later calls fail with UNAVAILABLE. Idempotent. */
  close(): void {
    this.#closed = true
    for (const endpoint of this.#endpoints.values()) closeEndpoint(endpoint)
    this.#endpoints.clear()
  }

  async #call<Req, Res>(method: string, pick: (endpoint: Endpoint) => UnaryMethod<Req, Res>, request: Req, retry: Retry, deadlineMs = this.#deadlineMs): Promise<Res> {
    if (this.#closed) throw new RegistryCallError(`${method}: registry client closed`, { code: ErrorCode.ERROR_CODE_UNAVAILABLE, grpcCode: GrpcStatus.CANCELLED })
    const first = this.#endpoint()
    try {
      return await unary(pick(first), request, { timeoutMs: deadlineMs, metadata: bearer(this.#token) })
    } catch (error) {
      const failure = this.#failed(error, method, first.address)
      // Only a refused connection is repeated at once: the request most likely never arrived.
      // After a deadline it may have, and the caller's time is spent anyway.
      if (retry === 'never' || this.#addresses.length < 2 || !failure.transport || failure.grpcCode !== GrpcStatus.UNAVAILABLE || this.#closed) throw failure
      const second = this.#endpoint()
      try {
        return await unary(pick(second), request, { timeoutMs: deadlineMs, metadata: bearer(this.#token) })
      } catch (again) {
        throw this.#failed(again, method, second.address)
      }
    }
  }

  // Converts a failure and, when the transport failed, moves on to the next address (unless
  // another call did so already).
  #failed(error: unknown, method: string, address: string): RegistryCallError {
    const failure = RegistryCallError.from(error, method)
    if (failure.transport && this.address === address && this.#addresses.length > 1 && !this.#closed) {
      this.#current = (this.#current + 1) % this.#addresses.length
      this.#logger.warn({ method, failed: address, next: this.address, grpcCode: failure.grpcCode }, 'registry unreachable, trying the next address')
    }
    return failure
  }

  #endpoint(): Endpoint {
    const address = this.address
    let endpoint = this.#endpoints.get(address)
    if (endpoint === undefined) {
      const seat = new SeatServiceClient(address, this.#credentials, CLIENT_OPTIONS)
      const shared = { ...CLIENT_OPTIONS, channelOverride: seat.getChannel() }
      endpoint = {
        address,
        seat,
        directory: new DirectoryServiceClient(address, this.#credentials, shared),
        branch: new BranchServiceClient(address, this.#credentials, shared),
        calls: new CallListServiceClient(address, this.#credentials, shared),
      }
      if (this.#closed) closeEndpoint(endpoint)
      else this.#endpoints.set(address, endpoint)
    }
    return endpoint
  }

  async #pages<T>(method: string, page: (token: string) => Promise<{ items: T[]; next: string }>): Promise<T[]> {
    const all: T[] = []
    let token = ''
    // A registry that kept answering with a next page would loop forever: bound the pages.
    for (let pages = 0; pages < 10_000; pages++) {
      const { items, next } = await page(token)
      all.push(...items)
      if (next === '') return all
      token = next
    }
    throw new RegistryCallError(`${method}: too many pages`, { code: ErrorCode.ERROR_CODE_INTERNAL, grpcCode: GrpcStatus.INTERNAL })
  }
}

const NOT_FOUND = new Set<ErrorCode>([ErrorCode.ERROR_CODE_UNKNOWN_EXTENSION, ErrorCode.ERROR_CODE_USER_NOT_FOUND])

function closeEndpoint(endpoint: Endpoint): void {
  endpoint.seat.close()
  endpoint.directory.close()
  endpoint.branch.close()
  endpoint.calls.close()
}
