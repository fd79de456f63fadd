import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js'
import { ErrorCode, type ErrorDetail, errorDetailOf } from '@flexseat/proto'

/**
 * What went wrong in the SIP node itself.
 * - `CONFIG_INVALID`: the command line, environment or site files cannot be used (never retryable).
 * - `REGISTRY`: the seat registry refused or could not be reached (the cause says which).
 * - `ENGINE`: the SIP engine's control connection failed.
 * - `INTERNAL`: a fault of the node.
 */
export type SipNodeErrorCode = 'CONFIG_INVALID' | 'REGISTRY' | 'ENGINE' | 'INTERNAL'

/**
 * A failure of the SIP node: a code to branch on (never the message), whether a retry can help,
 * and the underlying cause. Messages name the option or file at fault, never a token or secret.
 */
export class SipNodeError extends Error {
  override readonly name = 'SipNodeError'
  readonly code: SipNodeErrorCode
  /** Whether doing the same again later may succeed (default: false for CONFIG_INVALID, true for REGISTRY and ENGINE, false for INTERNAL). */
  readonly retryable: boolean

  constructor(code: SipNodeErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.retryable = options?.retryable ?? (code === 'REGISTRY' || code === 'ENGINE')
  }
}

/** Domain codes after which the same request may succeed later. */
const RETRYABLE_CODES = new Set<ErrorCode>([
  ErrorCode.ERROR_CODE_UNAVAILABLE,
  ErrorCode.ERROR_CODE_NOT_LEADER,
  ErrorCode.ERROR_CODE_CONFLICT,
  ErrorCode.ERROR_CODE_LEASE_HELD,
])

/**
 * A failed registry call, as the SIP node sees it. `code` comes from the ErrorDetail trailer
 * (`flexseat-error-bin`); a failure without one (transport failure, deadline, cancelled) is
 * ERROR_CODE_UNAVAILABLE, any other status without a detail ERROR_CODE_INTERNAL. Branch on
 * `code`, never on the message.
 */
export class RegistryCallError extends Error {
  override readonly name = 'RegistryCallError'
  /** The domain code (see proto/flexseat/v1/errors.proto). */
  readonly code: ErrorCode
  /** The gRPC status code the call ended with. */
  readonly grpcCode: number
  /** The decoded trailer: attemptsLeft, lockedUntil, field, retryAfterMs. Undefined for transport failures. */
  readonly detail: ErrorDetail | undefined
  /** Whether the same request may succeed later (UNAVAILABLE, NOT_LEADER, CONFLICT, LEASE_HELD). */
  readonly retryable: boolean

  constructor(message: string, init: { code: ErrorCode; grpcCode: number; detail?: ErrorDetail | undefined; cause?: unknown }) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause })
    this.code = init.code
    this.grpcCode = init.grpcCode
    this.detail = init.detail
    this.retryable = RETRYABLE_CODES.has(init.code)
  }

  /**
   * Whether the failure is the transport's (no ErrorDetail, gRPC UNAVAILABLE, DEADLINE_EXCEEDED or
   * CANCELLED): the registry instance may not have seen the request, so another instance is worth
   * trying.
   */
  get transport(): boolean {
    return this.detail === undefined && TRANSPORT_STATUSES.has(this.grpcCode)
  }

  /**
   * Wraps whatever a registry call rejected with. A RegistryCallError passes through unchanged.
   * `method` names the call in the message (e.g. "Login").
   */
  static from(error: unknown, method: string): RegistryCallError {
    if (error instanceof RegistryCallError) return error
    if (!isServiceError(error)) {
      return new RegistryCallError(`${method}: ${error instanceof Error ? error.message : String(error)}`, {
        code: ErrorCode.ERROR_CODE_INTERNAL,
        grpcCode: GrpcStatus.INTERNAL,
        cause: error,
      })
    }
    const detail = errorDetailOf(error)
    const code = detail?.code ?? (TRANSPORT_STATUSES.has(error.code) ? ErrorCode.ERROR_CODE_UNAVAILABLE : codeOfStatus(error.code))
    const details = error.details.replace(/\s*Resolution note:\s*$/, '').trim()
    return new RegistryCallError(`${method}: ${details || (GrpcStatus[error.code] ?? `status ${error.code}`)}`, {
      code,
      grpcCode: error.code,
      detail,
      cause: error,
    })
  }
}

const TRANSPORT_STATUSES = new Set<number>([GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED, GrpcStatus.CANCELLED])

// A status without a detail came from grpc-js or the server's interceptors (the registry's
// handlers always attach one): map the statuses that have an obvious domain meaning.
function codeOfStatus(status: number): ErrorCode {
  switch (status) {
    case GrpcStatus.UNAUTHENTICATED:
      return ErrorCode.ERROR_CODE_UNAUTHENTICATED
    case GrpcStatus.PERMISSION_DENIED:
      return ErrorCode.ERROR_CODE_PERMISSION_DENIED
    case GrpcStatus.INVALID_ARGUMENT:
      return ErrorCode.ERROR_CODE_INVALID_ARGUMENT
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return ErrorCode.ERROR_CODE_UNAVAILABLE
    default:
      return ErrorCode.ERROR_CODE_INTERNAL
  }
}

function isServiceError(error: unknown): error is ServiceError {
  const e = error as Partial<ServiceError> | null
  return typeof e === 'object' && e !== null && typeof e.code === 'number' && typeof e.details === 'string'
}
