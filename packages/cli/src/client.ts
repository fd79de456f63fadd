import { type ChannelCredentials, type ChannelOptions, credentials, Metadata, status as GrpcStatus } from '@grpc/grpc-js'
import {
  BranchServiceClient,
  CallListServiceClient,
  ClusterServiceClient,
  DirectoryServiceClient,
  DirectorySyncServiceClient,
  ErrorCode,
  ReportServiceClient,
  SeatPolicyServiceClient,
  SessionServiceClient,
  errorDetailOf,
  SeatServiceClient,
  serverStream,
  type StreamMethod,
  unary,
  type UnaryMethod,
} from '@flexseat/proto'
import { isServiceError } from './errors'
import { DEFAULT_RETRY, retrying, type RetryPolicy } from './retry'

/** Default registry address. */
export const DEFAULT_REGISTRY = '127.0.0.1:50051'
/** Default deadline of each unary call attempt, in milliseconds. */
export const DEFAULT_CALL_TIMEOUT_MS = 10_000

/** TLS material (PEM). Without `ca` the system's trusted roots apply. */
export interface TlsFiles {
  ca?: Buffer
  cert?: Buffer
  key?: Buffer
}

/** How to reach and authenticate to the registry. */
export interface ConnectionOptions {
  /** host:port of any registry instance, or a comma list of IPv4 host:port (default {@link DEFAULT_REGISTRY}). */
  address?: string
  /** Sent as `authorization: Bearer <token>`; never logged or printed. */
  token?: string
  /** Use TLS (mutual TLS when cert and key are given); plaintext when unset. */
  tls?: TlsFiles
  /** Deadline of each unary call attempt (default {@link DEFAULT_CALL_TIMEOUT_MS}). */
  timeoutMs?: number
  /** Retries of UNAVAILABLE / NOT_LEADER failures (default {@link DEFAULT_RETRY}). */
  retry?: RetryPolicy
  /** Told of each retry, e.g. to say so on stderr. */
  onRetry?: (error: unknown, retry: number, delayMs: number) => void
}

/** Attempts in all when the registry cannot be reached at all (default policy: 3). */
export const TRANSPORT_ATTEMPTS = 3

/**
 * Whether a failed call may succeed if repeated after attempt number `attempt`: the registry
 * said UNAVAILABLE or NOT_LEADER (a leader change under way: retried as long as the policy
 * allows), or the transport failed (gRPC UNAVAILABLE without a detail: retried only up to
 * {@link TRANSPORT_ATTEMPTS} attempts, so that a registry that is down is reported quickly).
 * Repeating is safe because every mutating request carries its request id.
 */
export function isRetryable(error: unknown, attempt = 1): boolean {
  if (!isServiceError(error)) return false
  const detail = errorDetailOf(error)
  if (detail !== undefined) return detail.code === ErrorCode.ERROR_CODE_UNAVAILABLE || detail.code === ErrorCode.ERROR_CODE_NOT_LEADER
  return error.code === GrpcStatus.UNAVAILABLE && attempt < TRANSPORT_ATTEMPTS
}

function retryHintMs(error: unknown): number {
  return errorDetailOf(error)?.retryAfterMs ?? 0
}

const IPV4_ADDRESS = /^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/

/**
 * The gRPC target of a registry address. One host:port is used as is; a comma list of IPv4
 * host:port (several instances of the cluster) becomes an `ipv4:` target, over which grpc-js
 * picks the first instance that answers and moves on when it fails. Undefined when a list holds
 * anything else (grpc-js resolves lists of literal addresses only).
 */
export function grpcTarget(address: string): string | undefined {
  if (!address.includes(',')) return address
  const parts = address.split(',').map((part) => part.trim())
  return parts.every((part) => IPV4_ADDRESS.test(part)) ? `ipv4:${parts.join(',')}` : undefined
}

const CHANNEL_OPTIONS: ChannelOptions = {
  // Fail fast when the registry cannot be reached instead of waiting out the whole deadline
  // for a reconnection: the caller's retry policy decides how patient to be.
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 2_000,
}

/**
 * The registry's services behind one channel, with the token attached to every call, a
 * deadline per attempt, and retries of transient failures. Create with {@link RegistryClient.connect};
 * `close()` when done (it is what lets the process exit).
 */
export class RegistryClient {
  readonly address: string
  readonly timeoutMs: number
  readonly #target: string
  readonly #token: string | undefined
  readonly #credentials: ChannelCredentials
  readonly #retry: RetryPolicy
  readonly #onRetry: ConnectionOptions['onRetry']
  #seats: SeatServiceClient | undefined
  #directory: DirectoryServiceClient | undefined
  #cluster: ClusterServiceClient | undefined
  #branch: BranchServiceClient | undefined
  #directorySync: DirectorySyncServiceClient | undefined
  #calls: CallListServiceClient | undefined
  #sessions: SessionServiceClient | undefined
  #reports: ReportServiceClient | undefined
  #policies: SeatPolicyServiceClient | undefined

  private constructor(options: ConnectionOptions) {
    this.address = options.address ?? DEFAULT_REGISTRY
    this.#target = grpcTarget(this.address) ?? this.address
    this.timeoutMs = options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS
    this.#token = options.token
    this.#retry = options.retry ?? DEFAULT_RETRY
    this.#onRetry = options.onRetry
    const tls = options.tls
    this.#credentials =
      tls === undefined ? credentials.createInsecure() : credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null)
  }

  /** Prepares a client; no connection is made until the first call. */
  static connect(options: ConnectionOptions = {}): RegistryClient {
    return new RegistryClient(options)
  }

  /** Whether a token is sent with each call. */
  get hasToken(): boolean {
    return this.#token !== undefined
  }

  /** The SeatService client (login, logout, seats, watch). */
  get seats(): SeatServiceClient {
    this.#seats ??= new SeatServiceClient(this.#target, this.#credentials, this.#channelOptions())
    return this.#seats
  }

  /** The DirectoryService client (users, devices, sites, PINs). */
  get directory(): DirectoryServiceClient {
    this.#directory ??= new DirectoryServiceClient(this.#target, this.#credentials, this.#channelOptions())
    return this.#directory
  }

  /** The ClusterService client. */
  get cluster(): ClusterServiceClient {
    this.#cluster ??= new ClusterServiceClient(this.#target, this.#credentials, this.#channelOptions())
    return this.#cluster
  }

  /** The BranchService client (the phones' bindings). */
  get branch(): BranchServiceClient {
    this.#branch ??= new BranchServiceClient(this.#target, this.#credentials, this.#channelOptions())
    return this.#branch
  }

  /** The DirectorySyncService client (sync now, status). */
  get directorySync(): DirectorySyncServiceClient {
    this.#directorySync ??= new DirectorySyncServiceClient(this.#target, this.#credentials, this.#channelOptions())
    return this.#directorySync
  }

  /** The CallListService client (the workers' central call lists). */
  get calls(): CallListServiceClient {
    this.#calls ??= new CallListServiceClient(this.#target, this.#credentials, this.#channelOptions())
    return this.#calls
  }

  /** The ReportService client (occupancy reports). */
  get reports(): ReportServiceClient {
    this.#reports ??= new ReportServiceClient(this.#target, this.#credentials, this.#channelOptions())
    return this.#reports
  }

  /** The SessionService client (the web portal's sessions). */
  get sessions(): SessionServiceClient {
    this.#sessions ??= new SessionServiceClient(this.#target, this.#credentials, this.#channelOptions())
    return this.#sessions
  }

  /** The SeatPolicyService client (sign-out policies). */
  get policies(): SeatPolicyServiceClient {
    this.#policies ??= new SeatPolicyServiceClient(this.#target, this.#credentials, this.#channelOptions())
    return this.#policies
  }

  // The clients share the first one's channel: one connection per command.
  #channelOptions(): ChannelOptions {
    const first = this.#seats ?? this.#directory ?? this.#cluster ?? this.#branch ?? this.#directorySync ?? this.#calls ?? this.#sessions ?? this.#reports ?? this.#policies
    return first === undefined ? CHANNEL_OPTIONS : { ...CHANNEL_OPTIONS, channelOverride: first.getChannel() }
  }

  /** The token's header, then `headers` (which may replace it: another caller's token). */
  #metadata(headers: Readonly<Record<string, string>> = {}): Metadata {
    const metadata = new Metadata()
    if (this.#token !== undefined) metadata.set('authorization', `Bearer ${this.#token}`)
    for (const [key, value] of Object.entries(headers)) metadata.set(key, value)
    return metadata
  }

  /**
   * Calls a unary method, bound to its client: `client.call(d.getUser.bind(d), request)`.
   * Transient failures are retried with the very same request (so the same request id).
   * `timeoutMs` (default the client's) is each attempt's deadline; `headers` are sent besides the
   * token (a service acting for someone: the web portal's session header).
   */
  call<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, signal?: AbortSignal, timeoutMs = this.timeoutMs, headers?: Readonly<Record<string, string>>): Promise<Res> {
    return retrying(() => unary(method, request, { timeoutMs, metadata: this.#metadata(headers), ...(signal ? { signal } : {}) }), {
      policy: this.#retry,
      retryable: isRetryable,
      hintMs: retryHintMs,
      ...(signal ? { signal } : {}),
      ...(this.#onRetry ? { onRetry: this.#onRetry } : {}),
    })
  }

  /** Opens a server stream (no deadline; ends when `signal` aborts). No retries here. `headers` as in {@link call}. */
  stream<Req, Res>(method: StreamMethod<Req, Res>, request: Req, signal: AbortSignal, headers?: Readonly<Record<string, string>>): AsyncGenerator<Res, void, undefined> {
    return serverStream(method, request, { metadata: this.#metadata(headers), signal })
  }

  /** Closes the channel. Idempotent. */
  close(): void {
    for (const client of [this.#seats, this.#directory, this.#cluster, this.#branch, this.#directorySync, this.#calls, this.#sessions, this.#reports, this.#policies]) client?.close()
  }
}
