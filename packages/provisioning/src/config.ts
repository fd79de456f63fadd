import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { loadSites, parseHostPort, type SiteConfig } from '@flexseat/config'
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

const USAGE = 'usage: flexseat-provisioning --site <id> [--sites-dir <dir>]'
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function invalid(message: string, cause?: unknown): ProvisioningError {
  return new ProvisioningError('CONFIG_INVALID', message, cause === undefined ? {} : { cause })
}

/**
 * Reads `flexseat-provisioning --site <id> [--sites-dir <dir>]` (default `./sites`, relative to
 * `cwd`) and the `FLEXSEAT_*` environment. Messages name the option or variable at fault and never
 * contain a token.
 * @throws ProvisioningError `CONFIG_INVALID`, or the site loader's ConfigError (naming file and field)
 */
export async function loadProvisioningConfig(argv: readonly string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): Promise<ProvisioningConfig> {
  let values: { site?: string; 'sites-dir'?: string }
  try {
    ;({ values } = parseArgs({ args: [...argv], options: { site: { type: 'string' }, 'sites-dir': { type: 'string' } }, strict: true, allowPositionals: false }))
  } catch (error) {
    throw invalid(`${USAGE} (${(error as Error).message})`, error)
  }
  if (values.site === undefined || values.site === '') throw invalid(`${USAGE}: --site is required`)
  const sitesDir = resolve(cwd, values['sites-dir'] ?? 'sites')
  const sites = await loadSites(sitesDir)
  const site = sites.find((s) => s.id === values.site)
  if (site === undefined) throw invalid(`--site: no site "${values.site}" in ${sitesDir} (${sites.map((s) => s.id).join(', ')})`)
  if (site.provisioning === undefined) throw invalid(`--site: ${site.id}.yaml has no provisioning section (provisioning.listen)`)

  const text = (name: string): string | undefined => {
    const value = env[name]?.trim()
    return value === undefined || value === '' ? undefined : value
  }
  const readBytes = async (name: string, file: string): Promise<Buffer> => {
    try {
      return await readFile(resolve(cwd, file))
    } catch (error) {
      throw invalid(`${name}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, error)
    }
  }

  const listenText = text('FLEXSEAT_PROVISIONING_LISTEN') ?? site.provisioning.listen
  const listen = parseHostPort(listenText)
  if (listen === undefined) throw invalid(`FLEXSEAT_PROVISIONING_LISTEN: "${listenText}" is not host:port`)

  const certFile = text('FLEXSEAT_PROVISIONING_TLS_CERT')
  const keyFile = text('FLEXSEAT_PROVISIONING_TLS_KEY')
  if ((certFile === undefined) !== (keyFile === undefined)) throw invalid('FLEXSEAT_PROVISIONING_TLS_CERT and FLEXSEAT_PROVISIONING_TLS_KEY go together')
  const tls = certFile === undefined || keyFile === undefined ? undefined : { cert: await readBytes('FLEXSEAT_PROVISIONING_TLS_CERT', certFile), key: await readBytes('FLEXSEAT_PROVISIONING_TLS_KEY', keyFile) }

  const registryAddresses = (text('FLEXSEAT_REGISTRY_ADDRESSES') ?? site.registry.listen).split(',').map((a) => a.trim()).filter((a) => a !== '')
  for (const address of registryAddresses) {
    if ((parseHostPort(address)?.port ?? 0) === 0) throw invalid(`FLEXSEAT_REGISTRY_ADDRESSES: "${address}" is not host:port with a port`)
  }
  if (registryAddresses.length === 0) throw invalid('FLEXSEAT_REGISTRY_ADDRESSES: no address')

  // The token comes from its file when one is named (out of `ps` and environment dumps).
  const tokenFile = text('FLEXSEAT_PROVISIONING_TOKEN_FILE')
  const registryToken = tokenFile === undefined ? text('FLEXSEAT_PROVISIONING_TOKEN') : (await readBytes('FLEXSEAT_PROVISIONING_TOKEN_FILE', tokenFile)).toString('utf8').trim()
  if (registryToken === undefined || registryToken === '') {
    throw invalid(tokenFile === undefined ? 'FLEXSEAT_PROVISIONING_TOKEN_FILE or FLEXSEAT_PROVISIONING_TOKEN is required' : `FLEXSEAT_PROVISIONING_TOKEN_FILE: ${tokenFile} is empty`)
  }
  const caFile = text('FLEXSEAT_REGISTRY_CA_FILE')
  const registryCa = caFile === undefined ? undefined : await readBytes('FLEXSEAT_REGISTRY_CA_FILE', caFile)

  const logLevel = text('FLEXSEAT_LOG_LEVEL') ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) throw invalid(`FLEXSEAT_LOG_LEVEL: one of ${LOG_LEVELS.join(', ')}`)

  const urlText = text('FLEXSEAT_PROVISIONING_URL') ?? site.provisioning.url
  if (urlText !== undefined && !/^https?:\/\/[^\s/?#]+(?:\/[^\s?#]*)?$/.test(urlText)) throw invalid(`FLEXSEAT_PROVISIONING_URL: "${urlText}" is not an http(s) base URL`)
  const publicUrl = urlText?.replace(/\/+$/, '')
  return { site, listen, publicUrl, tls, registryAddresses, registryToken, registryCa, logLevel }
}
