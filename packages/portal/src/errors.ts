/** What can go wrong in the portal itself, by code (never by message text). */
export type PortalErrorCode =
  /** The configuration (arguments, environment, site file) is unusable: exit 2. */
  | 'CONFIG_INVALID'

/** An error of the portal: a code, a cause, and whether a retry can help. */
export class PortalError extends Error {
  override readonly name = 'PortalError'
  readonly code: PortalErrorCode
  readonly retryable: boolean

  constructor(code: PortalErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.retryable = options.retryable ?? false
  }
}
