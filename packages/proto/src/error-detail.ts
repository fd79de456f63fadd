import { Metadata, type ServiceError } from '@grpc/grpc-js'
import { ErrorCode, ErrorDetail } from './gen/flexseat/v1/errors'

/** Trailing metadata key in which the registry sends the binary {@link ErrorDetail} of a failure. */
export const ERROR_DETAIL_KEY = 'flexseat-error-bin'

/**
 * The {@link ErrorDetail} a failed call carried in its trailers (key {@link ERROR_DETAIL_KEY}),
 * or undefined when there is none: transport failures, deadlines, refusals before the registry's
 * handlers, an undecodable or UNSPECIFIED detail. Accepts anything a call may reject with, so a
 * caller can pass a caught `unknown` as it is.
 */
export function errorDetailOf(error: ServiceError | unknown): ErrorDetail | undefined {
  const metadata = (error as { metadata?: unknown } | null)?.metadata
  if (!(metadata instanceof Metadata)) return undefined
  const [value] = metadata.get(ERROR_DETAIL_KEY)
  if (!Buffer.isBuffer(value)) return undefined
  try {
    const detail = ErrorDetail.decode(value)
    return detail.code === ErrorCode.ERROR_CODE_UNSPECIFIED ? undefined : detail
  } catch {
    // A garbled trailer is no detail: the caller falls back to the gRPC status.
    return undefined
  }
}
