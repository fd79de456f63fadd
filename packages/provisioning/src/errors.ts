/** What can go wrong in the provisioning service, by code (never by message text). */
export type ProvisioningErrorCode =
  /** The configuration (arguments, environment, site file) is unusable: exit 2. */
  | 'CONFIG_INVALID'

/** An error of the provisioning service: a code, a cause, and whether a retry can help. */
export class ProvisioningError extends Error {
  override readonly name = 'ProvisioningError'
  readonly code: ProvisioningErrorCode
  readonly retryable: boolean

  constructor(code: ProvisioningErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.retryable = options.retryable ?? false
  }
}
