import { Metadata, type ServiceError, status as GrpcStatus } from '@grpc/grpc-js'
import { ErrorCode, ErrorDetail } from '@flexseat/proto'
import type { Logger } from 'pino'
import { GRPC_STATUS_OF, RegistryError } from './errors'

/** Trailing metadata key carrying the binary-encoded {@link ErrorDetail} of a failed call. */
export const ERROR_DETAIL_KEY = 'flexseat-error-bin'

/** The ErrorDetail of a domain error. */
export function errorDetailOfRegistryError(error: RegistryError): ErrorDetail {
  return {
    code: error.code,
    field: error.facts.field ?? '',
    attemptsLeft: error.facts.attemptsLeft ?? 0,
    lockedUntil: error.facts.lockedUntil,
    retryAfterMs: error.facts.retryAfterMs ?? 0,
  }
}

/**
 * The gRPC status a handler sends for an error: a RegistryError maps through GRPC_STATUS_OF with
 * its message and the ErrorDetail in the trailers; anything else is an unexpected fault, logged
 * with its cause and sent as INTERNAL "internal error" (its text may hold anything).
 */
export function toGrpcStatus(error: unknown, logger: Logger): ServiceErrorLike {
  if (error instanceof RegistryError) {
    const metadata = new Metadata()
    metadata.set(ERROR_DETAIL_KEY, Buffer.from(ErrorDetail.encode(errorDetailOfRegistryError(error)).finish()))
    if (error.code === ErrorCode.ERROR_CODE_INTERNAL) logger.error({ err: error }, 'internal error')
    return { code: GRPC_STATUS_OF[error.code] ?? GrpcStatus.UNKNOWN, details: error.message, metadata }
  }
  logger.error({ err: error }, 'internal error')
  const metadata = new Metadata()
  metadata.set(ERROR_DETAIL_KEY, Buffer.from(ErrorDetail.encode(errorDetailOfRegistryError(new RegistryError(ErrorCode.ERROR_CODE_INTERNAL, 'internal error'))).finish()))
  return { code: GrpcStatus.INTERNAL, details: 'internal error', metadata }
}

/** What grpc-js accepts as the error of a handler (callback or stream 'error'). */
export interface ServiceErrorLike {
  code: GrpcStatus
  details: string
  metadata: Metadata
}

/**
 * Client side: the ErrorDetail a failed call carried in its trailers, or undefined when it had
 * none (e.g. a transport failure or a refusal before the registry's handlers).
 */
export function errorDetailOf(error: Pick<ServiceError, 'metadata'> | unknown): ErrorDetail | undefined {
  const metadata = (error as { metadata?: unknown } | null)?.metadata
  if (!(metadata instanceof Metadata)) return undefined
  const [value] = metadata.get(ERROR_DETAIL_KEY)
  if (!Buffer.isBuffer(value)) return undefined
  try {
    return ErrorDetail.decode(value)
  } catch {
    return undefined
  }
}

/**
 * Turns the error of a call to another registry instance (a forwarded write) back into a domain
 * error, so that the caller gets what the leader said. Transport failures become UNAVAILABLE
 * (retryable); anything else without a detail is an internal fault here.
 */
export function registryErrorFromServiceError(error: ServiceError): RegistryError {
  const detail = errorDetailOf(error)
  if (detail !== undefined && detail.code !== ErrorCode.ERROR_CODE_UNSPECIFIED) {
    const facts: RegistryError['facts'] = {}
    if (detail.field !== '') facts.field = detail.field
    if (detail.attemptsLeft !== 0 || detail.code === ErrorCode.ERROR_CODE_WRONG_PIN) facts.attemptsLeft = detail.attemptsLeft
    if (detail.lockedUntil !== undefined) facts.lockedUntil = detail.lockedUntil
    if (detail.retryAfterMs !== 0) facts.retryAfterMs = detail.retryAfterMs
    return new RegistryError(detail.code, error.details, facts, { cause: error })
  }
  if (error.code === GrpcStatus.UNAVAILABLE || error.code === GrpcStatus.DEADLINE_EXCEEDED || error.code === GrpcStatus.CANCELLED) {
    return new RegistryError(ErrorCode.ERROR_CODE_UNAVAILABLE, 'the leader could not be reached', { retryAfterMs: 500 }, { cause: error })
  }
  return new RegistryError(ErrorCode.ERROR_CODE_INTERNAL, 'internal error', {}, { cause: error })
}
