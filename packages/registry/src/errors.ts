import { status as GrpcStatus } from '@grpc/grpc-js'
import { ErrorCode } from '@flexseat/proto'

/** What a caller may learn from a domain error, besides its code and message. */
export interface ErrorFacts {
  /** INVALID_ARGUMENT: the request field at fault, e.g. "user.extension". */
  field?: string
  /** WRONG_PIN: attempts left before the lockout. */
  attemptsLeft?: number
  /** LOCKED_OUT, LOCKED_AT_DESK: when the lock ends; DESK_THROTTLED: when the desk's pause ends. */
  lockedUntil?: Date
  /** UNAVAILABLE / NOT_LEADER: when a retry may help, in milliseconds. */
  retryAfterMs?: number
}

/**
 * A domain error of the registry: carries a code (proto enum `ErrorCode`), a message fit for the
 * caller, whether a retry can help, and the underlying cause (never shown to callers).
 * Branch on `code`, never on the message.
 */
export class RegistryError extends Error {
  override readonly name = 'RegistryError'
  readonly code: ErrorCode
  readonly facts: ErrorFacts

  constructor(code: ErrorCode, message: string, facts: ErrorFacts = {}, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.facts = facts
  }

  /** Whether retrying the same request later may succeed. */
  get retryable(): boolean {
    return RETRYABLE.has(this.code)
  }
}

const RETRYABLE = new Set<ErrorCode>([ErrorCode.ERROR_CODE_UNAVAILABLE, ErrorCode.ERROR_CODE_NOT_LEADER, ErrorCode.ERROR_CODE_CONFLICT])

/** A bad request field. */
export function invalidArgument(field: string, message: string): RegistryError {
  return new RegistryError(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, `${field}: ${message}`, { field })
}

/** The cluster cannot serve now; a retry after `retryAfterMs` may. */
export function unavailable(message: string, retryAfterMs = 500, cause?: unknown): RegistryError {
  return new RegistryError(ErrorCode.ERROR_CODE_UNAVAILABLE, message, { retryAfterMs }, { cause })
}

/**
 * The one table from domain error codes to gRPC status codes.
 * @see proto/flexseat/v1/errors.proto, which documents each code with its status.
 */
export const GRPC_STATUS_OF: Readonly<Record<ErrorCode, GrpcStatus>> = {
  [ErrorCode.ERROR_CODE_UNSPECIFIED]: GrpcStatus.UNKNOWN,
  [ErrorCode.ERROR_CODE_INVALID_ARGUMENT]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.ERROR_CODE_UNKNOWN_EXTENSION]: GrpcStatus.NOT_FOUND,
  [ErrorCode.ERROR_CODE_USER_NOT_FOUND]: GrpcStatus.NOT_FOUND,
  [ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND]: GrpcStatus.NOT_FOUND,
  [ErrorCode.ERROR_CODE_SITE_NOT_FOUND]: GrpcStatus.NOT_FOUND,
  [ErrorCode.ERROR_CODE_WRONG_PIN]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.ERROR_CODE_LOCKED_OUT]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.ERROR_CODE_LOCKED_AT_DESK]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.ERROR_CODE_NOT_SEATED_HERE]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.ERROR_CODE_NOT_FLEX_HOST]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.ERROR_CODE_ROAMING_NOT_ALLOWED]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.ERROR_CODE_EXTENSION_TAKEN]: GrpcStatus.ALREADY_EXISTS,
  [ErrorCode.ERROR_CODE_ALREADY_EXISTS]: GrpcStatus.ALREADY_EXISTS,
  [ErrorCode.ERROR_CODE_REQUEST_ID_REUSED]: GrpcStatus.ALREADY_EXISTS,
  [ErrorCode.ERROR_CODE_SITE_IN_USE]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.ERROR_CODE_UNAVAILABLE]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.ERROR_CODE_NOT_LEADER]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.ERROR_CODE_UNAUTHENTICATED]: GrpcStatus.UNAUTHENTICATED,
  [ErrorCode.ERROR_CODE_PERMISSION_DENIED]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.ERROR_CODE_CONFLICT]: GrpcStatus.ABORTED,
  [ErrorCode.ERROR_CODE_INTERNAL]: GrpcStatus.INTERNAL,
  [ErrorCode.ERROR_CODE_NO_CREDENTIALS]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.ERROR_CODE_LEASE_HELD]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.ERROR_CODE_LEASE_REFUSED]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.ERROR_CODE_NO_PIN]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.ERROR_CODE_USER_DISABLED]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.ERROR_CODE_NOT_CONFIGURED]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.ERROR_CODE_DESK_THROTTLED]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.ERROR_CODE_PROFILE_NOT_FOUND]: GrpcStatus.NOT_FOUND,
  [ErrorCode.ERROR_CODE_MAC_TAKEN]: GrpcStatus.ALREADY_EXISTS,
  [ErrorCode.ERROR_CODE_WRONG_PASSWORD]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.ERROR_CODE_SESSION_INVALID]: GrpcStatus.UNAUTHENTICATED,
  [ErrorCode.UNRECOGNIZED]: GrpcStatus.UNKNOWN,
}
