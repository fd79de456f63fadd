import { loadServiceEnv, type SiteConfig } from '@flexseat/config'
import { ProvisioningError } from './errors'

/**
 * The provisioning service's configuration, loaded and validated once by
 * {@link loadProvisioningConfig} in main.ts and passed down read-only. Variables and defaults:
 * packages/provisioning/README.md, "Running it".
 */
export interface ProvisioningConfig {
  /** This service's site (`--site`); it must have a `provisioning` section. */
  site: SiteConfig
  /** Where to listen (FLEXSEAT_PROVISIONING_LISTEN, default the site's `provisioning.listen`; port 0: any free port). */
  listen: { host: string; port: number }
  /**
   * The base URL phones reach the service at, without a trailing slash (FLEXSEAT_PROVISIONING_URL,
   * default the site's `provisioning.url`, else `http(s)://<bound address>`): the softkey
   * applications' links in the files start with it.
   */
  publicUrl: string | undefined
  /** Serve HTTPS with this certificate and key (FLEXSEAT_PROVISIONING_TLS_CERT / _KEY, PEM files); HTTP without. */
  tls: { cert: Buffer; key: Buffer } | undefined
  /** `host:port` of registry instances, tried in order (FLEXSEAT_REGISTRY_ADDRESSES; default the site's `registry.listen`). */
  registryAddresses: string[]
  /**
   * Bearer token with the registry role `provisioning` (FLEXSEAT_PROVISIONING_TOKEN_FILE wins over
   * FLEXSEAT_PROVISIONING_TOKEN; required). One per branch: it is the branch's credential, so a
   * token the registry confines to the branch's own phones plugs in here unchanged.
   */
  registryToken: string
  /** PEM CA of the registry's TLS certificate (FLEXSEAT_REGISTRY_CA_FILE); plaintext gRPC when undefined. */
  registryCa: Buffer | undefined
  /** pino level (FLEXSEAT_LOG_LEVEL, default `info`). */
  logLevel: string
}

function invalid(message: string, cause?: unknown): ProvisioningError {
  return new ProvisioningError('CONFIG_INVALID', message, cause === undefined ? {} : { cause })
}

/**
 * Reads `flexseat-provisioning --site <id> [--sites-dir <dir>]` (default `./sites`, relative to
 * `cwd`) and the `FLEXSEAT_*` environment (the settings every branch HTTP service shares:
 * `loadServiceEnv` of @flexseat/config). Messages name the option or variable at fault and never
 * contain a token.
 * @throws ProvisioningError `CONFIG_INVALID`, or the site loader's ConfigError (naming file and field)
 */
export async function loadProvisioningConfig(argv: readonly string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): Promise<ProvisioningConfig> {
  const { site, listen, tls, registryAddresses, registryToken, registryCa, logLevel, text } = await loadServiceEnv(argv, env, cwd, {
    usage: 'usage: flexseat-provisioning --site <id> [--sites-dir <dir>]',
    section: 'provisioning',
    prefix: 'FLEXSEAT_PROVISIONING',
    invalid,
  })
  const urlText = text('FLEXSEAT_PROVISIONING_URL') ?? site.provisioning?.url
  if (urlText !== undefined && !/^https?:\/\/[^\s/?#]+(?:\/[^\s?#]*)?$/.test(urlText)) throw invalid(`FLEXSEAT_PROVISIONING_URL: "${urlText}" is not an http(s) base URL`)
  const publicUrl = urlText?.replace(/\/+$/, '')
  return { site, listen, publicUrl, tls, registryAddresses, registryToken, registryCa, logLevel }
}
