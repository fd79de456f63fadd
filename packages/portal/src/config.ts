import { randomBytes } from 'node:crypto'
import { loadServiceEnv, type SiteConfig } from '@flexseat/config'
import { PortalError } from './errors'

/**
 * The portal's configuration, loaded and validated once by {@link loadPortalConfig} in main.ts and
 * passed down read-only. Variables and defaults: packages/portal/README.md, "Running it".
 */
export interface PortalConfig {
  /** This portal's site (`--site`); it must have a `portal` section. */
  site: SiteConfig
  /** Every site of the folder (the names the pages show). */
  sites: readonly SiteConfig[]
  /** Where to listen (FLEXSEAT_PORTAL_LISTEN, default the site's `portal.listen`; port 0: any free port). */
  listen: { host: string; port: number }
  /**
   * The base URL browsers reach the portal at, without a trailing slash (FLEXSEAT_PORTAL_URL,
   * default the site's `portal.url`, else `http(s)://<bound address>`): its origin is the only one
   * changes are accepted from.
   */
  publicUrl: string | undefined
  /** Serve HTTPS with this certificate and key (FLEXSEAT_PORTAL_TLS_CERT / _KEY, PEM files); HTTP without. */
  tls: { cert: Buffer; key: Buffer } | undefined
  /** `host:port` of registry instances (FLEXSEAT_REGISTRY_ADDRESSES; default the site's `registry.listen`). */
  registryAddresses: string[]
  /**
   * Bearer token with the registry role `portal` (FLEXSEAT_PORTAL_TOKEN_FILE wins over
   * FLEXSEAT_PORTAL_TOKEN; required). It may only open sessions: every other call presents the
   * session of the person signed in.
   */
  registryToken: string
  /** PEM CA of the registry's TLS certificate (FLEXSEAT_REGISTRY_CA_FILE); plaintext gRPC when undefined. */
  registryCa: Buffer | undefined
  /**
   * The secret that signs the portal's CSRF cookie (FLEXSEAT_PORTAL_COOKIE_SECRET_FILE, at least
   * 32 bytes; default: random at every start, so that a restart only makes open pages fetch a new
   * CSRF token).
   */
  cookieSecret: string
  /** Requests per minute and client address (FLEXSEAT_PORTAL_RATE_LIMIT, default 300). */
  rateLimit: number
  /** Sign-in attempts per minute and client address (FLEXSEAT_PORTAL_SIGN_IN_LIMIT, default 10). */
  signInLimit: number
  /** pino level (FLEXSEAT_LOG_LEVEL, default `info`). */
  logLevel: string
}

function invalid(message: string, cause?: unknown): PortalError {
  return new PortalError('CONFIG_INVALID', message, cause === undefined ? {} : { cause })
}

/**
 * Reads `flexseat-portal --site <id> [--sites-dir <dir>]` (default `./sites`, relative to `cwd`)
 * and the `FLEXSEAT_*` environment (the settings every branch HTTP service shares:
 * `loadServiceEnv` of @flexseat/config). Messages name the option or variable at fault and never
 * contain a token or secret.
 * @throws PortalError `CONFIG_INVALID`, or the site loader's ConfigError (naming file and field)
 */
export async function loadPortalConfig(argv: readonly string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): Promise<PortalConfig> {
  const { site, sites, listen, tls, registryAddresses, registryToken, registryCa, logLevel, text, readBytes } = await loadServiceEnv(argv, env, cwd, {
    usage: 'usage: flexseat-portal --site <id> [--sites-dir <dir>]',
    section: 'portal',
    prefix: 'FLEXSEAT_PORTAL',
    invalid,
  })
  const whole = (name: string, fallback: number, min: number, max: number): number => {
    const raw = text(name) ?? String(fallback)
    const value = Number(raw)
    if (!/^\d+$/.test(raw) || value < min || value > max) throw invalid(`${name}: "${raw}" is not a whole number from ${min} to ${max}`)
    return value
  }

  const secretFile = text('FLEXSEAT_PORTAL_COOKIE_SECRET_FILE')
  const cookieSecret = secretFile === undefined ? randomBytes(32).toString('base64url') : (await readBytes('FLEXSEAT_PORTAL_COOKIE_SECRET_FILE', secretFile)).toString('utf8').trim()
  if (Buffer.byteLength(cookieSecret) < 32) throw invalid(`FLEXSEAT_PORTAL_COOKIE_SECRET_FILE: ${secretFile ?? ''} holds fewer than 32 bytes`)

  const urlText = text('FLEXSEAT_PORTAL_URL') ?? site.portal?.url
  if (urlText !== undefined && !/^https?:\/\/[^\s/?#]+\/?$/.test(urlText)) throw invalid(`FLEXSEAT_PORTAL_URL: "${urlText}" is not an http(s) origin such as https://portal.example.com`)
  const publicUrl = urlText?.replace(/\/+$/, '')
  return {
    site,
    sites,
    listen,
    publicUrl,
    tls,
    registryAddresses,
    registryToken,
    registryCa,
    cookieSecret,
    rateLimit: whole('FLEXSEAT_PORTAL_RATE_LIMIT', 300, 10, 100_000),
    signInLimit: whole('FLEXSEAT_PORTAL_SIGN_IN_LIMIT', 10, 1, 10_000),
    logLevel,
  }
}
