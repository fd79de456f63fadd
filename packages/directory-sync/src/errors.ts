/**
 * What can go wrong in the directory sync, by code:
 *
 * - `CONFIG`: the configuration file is unusable; the message names the file and the key.
 * - `CONNECT`: the LDAP server could not be reached, or TLS failed (retry may help).
 * - `BIND`: the service account's bind was refused (check `ldap.bind_dn` and its password).
 * - `SEARCH`: the search failed (base DN, filter, size or time limits, lost connection).
 * - `ABORTED`: the run was stopped (leadership lost, the instance stopping).
 */
export type DirectorySyncErrorCode = 'CONFIG' | 'CONNECT' | 'BIND' | 'SEARCH' | 'ABORTED'

const RETRYABLE: ReadonlySet<DirectorySyncErrorCode> = new Set(['CONNECT', 'SEARCH'])

/** An error of the directory sync: a code, a message fit for an operator (never a password), a cause. */
export class DirectorySyncError extends Error {
  override readonly name = 'DirectorySyncError'
  readonly code: DirectorySyncErrorCode

  constructor(code: DirectorySyncErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }

  /** Whether the same run later may succeed. */
  get retryable(): boolean {
    return RETRYABLE.has(this.code)
  }
}

/** The configuration file is unusable: `<file>: <key>: <why>`. */
export function configError(source: string, key: string, why: string, cause?: unknown): DirectorySyncError {
  return new DirectorySyncError('CONFIG', `${source}: ${key}: ${why}`, cause === undefined ? undefined : { cause })
}
