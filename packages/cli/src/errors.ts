import { type Metadata, status as GrpcStatus } from '@grpc/grpc-js'
import { ErrorCode, type ErrorDetail, errorDetailOf } from '@flexseat/proto'
import { ExitCode } from './exit-codes'

// The trailer decoding lives in @flexseat/proto (shared with the SIP node); re-exported here
// because the CLI's public surface has always offered it.
export { ERROR_DETAIL_KEY, errorDetailOf } from '@flexseat/proto'

/** The command line is wrong (unknown option, missing argument, bad number...): exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
  readonly code = 'USAGE'
  /** The command whose usage to point at, e.g. "user create" (unset: the top level). */
  readonly command: string | undefined

  constructor(message: string, command?: string) {
    super(message)
    this.command = command
  }
}

/**
 * A local failure that is not the command line's fault: an unreadable token or certificate file,
 * no PIN on stdin. Carries the exit code to use.
 */
export class CliError extends Error {
  override readonly name = 'CliError'
  readonly exitCode: ExitCode

  constructor(message: string, exitCode: ExitCode, options?: { cause?: unknown }) {
    super(message, options)
    this.exitCode = exitCode
  }
}

/** The parts of a grpc-js ServiceError the CLI reads. */
export interface ServiceErrorLike {
  code: number
  details: string
  metadata?: Metadata
}

/** Whether `error` is the error of a gRPC call (a grpc-js ServiceError). */
export function isServiceError(error: unknown): error is ServiceErrorLike {
  const e = error as Partial<ServiceErrorLike> | null
  return typeof e === 'object' && e !== null && typeof e.code === 'number' && typeof e.details === 'string'
}

/** What the caller was doing when a call failed, for a message that helps. */
export interface FailureContext {
  /** The registry address called. */
  address?: string
  /** The deadline of the call, in milliseconds. */
  timeoutMs?: number
  /** Whether a token was sent (a missing token gets a hint). */
  tokenGiven?: boolean
}

/** One line for stderr (without the "flexseat: " prefix) and the exit code. */
export interface Failure {
  message: string
  exitCode: ExitCode
}

const AUTH_CODES = new Set<ErrorCode>([ErrorCode.ERROR_CODE_UNAUTHENTICATED, ErrorCode.ERROR_CODE_PERMISSION_DENIED])
const UNAVAILABLE_CODES = new Set<ErrorCode>([ErrorCode.ERROR_CODE_UNAVAILABLE, ErrorCode.ERROR_CODE_NOT_LEADER])

/**
 * The exit code of a failed gRPC call. The ErrorDetail decides when there is one: a wrong PIN
 * travels as PERMISSION_DENIED but is a refusal of the request (1), not a permission failure of
 * the caller (4). Without a detail (transport failures, refusals before the registry's handlers)
 * the gRPC status decides.
 */
export function exitCodeOf(error: ServiceErrorLike, detail: ErrorDetail | undefined = errorDetailOf(error)): ExitCode {
  if (detail !== undefined) {
    if (AUTH_CODES.has(detail.code)) return ExitCode.Auth
    if (UNAVAILABLE_CODES.has(detail.code)) return ExitCode.Unavailable
    return ExitCode.Refused
  }
  switch (error.code) {
    case GrpcStatus.UNAUTHENTICATED:
    case GrpcStatus.PERMISSION_DENIED:
      return ExitCode.Auth
    case GrpcStatus.UNAVAILABLE:
    case GrpcStatus.DEADLINE_EXCEEDED:
    case GrpcStatus.CANCELLED:
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return ExitCode.Unavailable
    default:
      return ExitCode.Refused
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

/** The readable line for a failed gRPC call. Uses the detail's facts where they say more. */
export function messageOf(error: ServiceErrorLike, detail: ErrorDetail | undefined, context: FailureContext = {}): string {
  // grpc-js transport messages end with an empty "Resolution note:"; drop that noise.
  const details = error.details.replace(/\s*Resolution note:\s*$/, '').replace(/Last error: Error: /, 'last error: ').replace(/\.$/, '').trim()
  if (detail !== undefined) {
    switch (detail.code) {
      case ErrorCode.ERROR_CODE_WRONG_PIN:
        return `wrong PIN (${plural(detail.attemptsLeft, 'attempt')} left)`
      case ErrorCode.ERROR_CODE_LOCKED_OUT:
        return detail.lockedUntil === undefined
          ? 'locked out after too many wrong PINs'
          : `locked out after too many wrong PINs until ${detail.lockedUntil.toISOString()}`
      case ErrorCode.ERROR_CODE_LOCKED_AT_DESK:
        return detail.lockedUntil === undefined
          ? 'locked at this desk after too many wrong PINs here (other desks still accept the worker)'
          : `locked at this desk after too many wrong PINs here until ${detail.lockedUntil.toISOString()} (other desks still accept the worker)`
      case ErrorCode.ERROR_CODE_INVALID_ARGUMENT:
        if (detail.field !== '' && !details.startsWith(detail.field)) return `${detail.field}: ${details || 'invalid'}`
        return details || 'invalid argument'
      case ErrorCode.ERROR_CODE_UNAUTHENTICATED:
        return context.tokenGiven === false ? `${details || 'not authenticated'} (no token given: use --token-file, --token or FLEXSEAT_TOKEN)` : details || 'not authenticated'
      default:
        if (details !== '') return details
        return `registry refused: ${errorCodeName(detail.code)}`
    }
  }
  const at = context.address === undefined ? 'the registry' : `the registry at ${context.address}`
  switch (error.code) {
    case GrpcStatus.UNAVAILABLE:
      return `${at} is unavailable${details ? ` (${details})` : ''}`
    case GrpcStatus.DEADLINE_EXCEEDED:
      return context.timeoutMs === undefined ? `no answer from ${at} in time` : `no answer from ${at} within ${context.timeoutMs} ms`
    case GrpcStatus.UNAUTHENTICATED:
      return context.tokenGiven === false
        ? `not authenticated: no token given (use --token-file, --token or FLEXSEAT_TOKEN)`
        : `not authenticated${details ? `: ${details}` : ''}`
    case GrpcStatus.PERMISSION_DENIED:
      return `permission denied${details ? `: ${details}` : ''}`
    default:
      return details || `call failed with gRPC status ${GrpcStatus[error.code] ?? error.code}`
  }
}

function errorCodeName(code: ErrorCode): string {
  return (ErrorCode[code] ?? String(code)).replace(/^ERROR_CODE_/, '').toLowerCase().replaceAll('_', ' ')
}

/**
 * Turns anything a command threw into the one line to print and the exit code: usage errors 2,
 * local failures their own code, gRPC failures by {@link exitCodeOf}, an abort 130, and anything
 * else (a fault of the CLI itself) 1.
 */
export function describeFailure(error: unknown, context: FailureContext = {}): Failure {
  if (error instanceof UsageError) return { message: error.message, exitCode: ExitCode.Usage }
  if (error instanceof CliError) return { message: error.message, exitCode: error.exitCode }
  if (isServiceError(error)) {
    const detail = errorDetailOf(error)
    return { message: messageOf(error, detail, context), exitCode: exitCodeOf(error, detail) }
  }
  if (error instanceof Error && error.name === 'AbortError') return { message: 'interrupted', exitCode: ExitCode.Interrupted }
  return { message: `unexpected failure: ${error instanceof Error ? error.message : String(error)}`, exitCode: ExitCode.Refused }
}
