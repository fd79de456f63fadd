/**
 * Why a site configuration was refused.
 * - `CONFIG_UNREADABLE`: the file or folder could not be read, or is not YAML.
 * - `CONFIG_INVALID`: the YAML parsed but a field is missing, of the wrong type or out of range.
 * - `CONFIG_CONFLICT`: each file is valid on its own but two sites clash (duplicate id, etcd name).
 */
export type ConfigErrorCode = 'CONFIG_UNREADABLE' | 'CONFIG_INVALID' | 'CONFIG_CONFLICT'

/**
 * A site configuration that cannot be used. The message names the file and the field
 * (`sites/berlin.yaml: registry.listen: ...`) so that the operator can fix it without reading code.
 * Configuration errors are never retryable: the file must change.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  readonly code: ConfigErrorCode
  /** The file at fault (or the folder, for errors about the set of sites). */
  readonly file: string
  /** Dotted path of the field at fault, in the YAML's spelling (`dial_plan.extension`); undefined for the whole file. */
  readonly field: string | undefined
  readonly retryable = false

  constructor(code: ConfigErrorCode, file: string, field: string | undefined, problem: string, options?: { cause?: unknown }) {
    super(`${file}: ${field === undefined ? '' : `${field}: `}${problem}`, options)
    this.code = code
    this.file = file
    this.field = field
  }
}
